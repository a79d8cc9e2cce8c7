"""The plan page's legend names the unreachable streets' style, in both languages."""

import json

import geopandas as gpd
import pytest
from shapely.geometry import LineString

from gridpatrol.maps.patrols import UNREACHABLE_TITLE, plan_html


def _routes():
    return gpd.GeoDataFrame(
        {
            "team_id": ["T1"],
            "day": [1],
            "length_m": [1200.0],
            "minutes": [18.0],
            "stops": [json.dumps([])],
        },
        geometry=[LineString([(24.94, 60.16), (24.95, 60.17)])],
        crs=4326,
    )


def _unreachable():
    line = {"type": "LineString", "coordinates": [[24.96, 60.16], [24.97, 60.16]]}
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": line, "properties": {"reason": "one_way"}}],
    }


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_legend_lists_unreachable_streets_style(lang):
    page = plan_html(_routes(), lang=lang, unreachable=_unreachable())
    legend = page[page.index('id="gp-legend"') :]
    legend = legend[: legend.index("</div></div>") + 12]
    assert "dashed #862e9c" in legend
    assert UNREACHABLE_TITLE[lang] in legend


def test_legend_has_no_unreachable_entry_when_all_streets_are_reached():
    page = plan_html(_routes(), unreachable={"type": "FeatureCollection", "features": []})
    legend = page[page.index('id="gp-legend"') :]
    assert UNREACHABLE_TITLE["en"] not in legend[:2000]
    assert "dashed #862e9c" not in page
