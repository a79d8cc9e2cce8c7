"""Text columns are escaped whatever their dtype (pandas >= 3 reads strings as "str")."""

import geopandas as gpd
import pandas as pd
import shapely

from gridpatrol.maps.base import escape_frame
from gridpatrol.maps.pages import render_grids

HOSTILE = "<img src=x onerror=alert(1)>`${alert(2)}`"


def _grids(dtype):
    return gpd.GeoDataFrame(
        {
            "code": pd.Series(["091001001001001"], dtype=dtype),
            "name": pd.Series([HOSTILE], dtype=dtype),
            "households": [10],
            "incidents": [3],
            "camera_coverage": [0.2],
        },
        geometry=[shapely.box(24.93, 60.16, 24.94, 60.17)],
        crs=4326,
    )


def test_escape_frame_escapes_str_and_object_columns():
    for dtype in ("str", object):
        out = escape_frame(_grids(dtype))
        assert "<img" not in out["name"].iloc[0] and "${" not in out["name"].iloc[0], dtype


def test_a_hostile_grid_name_is_text_on_the_grids_page():
    html = render_grids(_grids("str"), measure="households").get_root().render()
    assert "<img src=x" not in html and "\\u003cimg" not in html
    assert "${alert" not in html
