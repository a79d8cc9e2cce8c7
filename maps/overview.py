"""The overview map: grids, buildings, cameras and streets with a layer switcher.

Renders only: every layer arrives in WGS84, ready to draw.
"""

from __future__ import annotations

import folium
import geopandas as gpd

from .base import add_basemap, add_title, escape_frame, new_map, offline_html
from .i18n import labels
from .styles import AREA_STYLE, BUILDING_STYLE, GRID_STYLE, STREET_STYLE
from .tiles import add_layer


def _tooltip(gdf: gpd.GeoDataFrame, fields: dict[str, str]) -> folium.GeoJsonTooltip | None:
    present = {k: v for k, v in fields.items() if k in gdf.columns}
    if not present:
        return None
    return folium.GeoJsonTooltip(fields=list(present), aliases=list(present.values()), sticky=True)


def render_overview(
    layers: dict[str, gpd.GeoDataFrame],
    *,
    basemap: str = "none",
    basemap_key: str = "",
    lang: str = "en",
    m: folium.Map | None = None,
    bounds_hint=None,
    tile_url: str = "/tiles/{layer}/{z}/{x}/{y}.pbf",
) -> folium.Map:
    """Draw the project's layers on one map.

    Parameters
    ----------
    layers
        Any of ``areas``, ``grids``, ``buildings``, ``cameras``, ``streets`` in WGS84; a
        layer given as an int (its feature count) is drawn from vector tiles instead.
    basemap
        ``none`` (our streets and buildings are the basemap), ``osm`` or a tile URL template.
    lang
        ``en`` or ``zh``.
    m
        A map to draw on; a new one when None.
    bounds_hint
        (min lon, min lat, max lon, max lat) to fit when the big layers come as tiles.
    tile_url
        Vector-tile URL template for layers given only by their size.
    """
    t = labels(lang)
    # A layer given as a number (its size) is too big to inline: it comes as vector tiles.
    tiled = {k: v for k, v in layers.items() if isinstance(v, int)}
    layers = {k: v for k, v in layers.items() if not isinstance(v, int)}
    bounds = bounds_hint
    for name in ("grids", "areas", "buildings", "streets", "cameras"):
        if bounds is None and name in layers and len(layers[name]):
            bounds = layers[name].total_bounds
    m = m or new_map(bounds)
    add_basemap(m, basemap, key=basemap_key)
    add_title(m, t["title"], lang=lang, nav=True)

    streets = layers.get("streets")
    if streets is not None and len(streets):
        folium.GeoJson(
            escape_frame(streets[["name", "highway", "geometry"]]),
            name=t["streets"],
            style_function=lambda f: STREET_STYLE,
            tooltip=_tooltip(streets, {"name": t["name"]}),
        ).add_to(m)
    buildings = layers.get("buildings")
    if buildings is not None and len(buildings):
        b = buildings.copy()
        b["address"] = (b["addr_street"] + " " + b["addr_housenumber"]).str.strip()
        b["households_text"] = b["households"].astype(str) + b["households_estimated"].map(
            {True: f" ({t['estimated']})", False: ""}
        )
        folium.GeoJson(
            escape_frame(b[["source_id", "name", "address", "use", "households_text", "geometry"]]),
            name=t["buildings"],
            style_function=lambda f: BUILDING_STYLE,
            tooltip=_tooltip(
                b, {"name": t["name"], "address": t["address"], "households_text": t["households"]}
            ),
        ).add_to(m)
    areas = layers.get("areas")
    if areas is not None and len(areas):
        folium.GeoJson(
            escape_frame(areas[["code", "name", "level", "geometry"]]),
            name=t["areas"],
            style_function=lambda f: AREA_STYLE,
            tooltip=_tooltip(areas, {"code": t["code"], "name": t["name"]}),
        ).add_to(m)
    grids = layers.get("grids")
    if grids is not None and len(grids):
        folium.GeoJson(
            escape_frame(grids[["code", "name", "households", "geometry"]]),
            name=t["grids"],
            style_function=lambda f: GRID_STYLE,
            highlight_function=lambda f: {"weight": 4, "fillOpacity": 0.3},
            popup=folium.GeoJsonPopup(
                fields=["code", "name", "households"],
                aliases=[t["code"], t["name"], t["households"]],
            ),
        ).add_to(m)

    for name in ("streets", "buildings", "grids"):
        if name in tiled:
            add_layer(m, name, tiled[name], url=tile_url, name=t[name])
    cameras = layers.get("cameras")
    if cameras is not None and len(cameras):
        group = folium.FeatureGroup(name=t["cameras"])
        for row in cameras.itertuples():
            direction = "" if row.direction != row.direction else f"{row.direction:.0f}°"
            folium.CircleMarker(
                location=(row.geometry.y, row.geometry.x),
                radius=4,
                color="#7048e8",
                weight=1,
                fill=True,
                fill_opacity=0.9,
                tooltip=(
                    f"{t['type']}: {row.camera_type} · {t['direction']}: "
                    f"{direction or t['unknown']}"
                ),
            ).add_to(group)
        group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def overview_html(layers: dict[str, gpd.GeoDataFrame], **kwargs) -> str:
    """The overview page as HTML that loads nothing from the internet."""
    return offline_html(render_overview(layers, **kwargs))
