"""Layer styles shared by the overview, embeds and vector tiles, and the tables that name
what a page or a tile can show (:data:`MEASURES`, :data:`TILE_LAYERS`).

Kept apart so that ``maps.tiles`` and ``maps.overview`` (which draws big layers as
tiles) can both use them without importing each other, and free of folium so that the
service's routers can name them without importing folium when the app is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GRID_STYLE = {"color": "#d9480f", "weight": 2.5, "fillColor": "#ffa94d", "fillOpacity": 0.12}
BUILDING_STYLE = {"color": "#495057", "weight": 0.6, "fillColor": "#adb5bd", "fillOpacity": 0.6}
STREET_STYLE = {"color": "#868e96", "weight": 1.2, "opacity": 0.8}
AREA_STYLE = {"color": "#1c7ed6", "weight": 2, "dashArray": "6 4", "fillOpacity": 0.0}

#: What the grids page can colour grids by.
MEASURES = ("households", "incidents", "camera_coverage")

CAMERA_STYLE = {
    "radius": 4,
    "color": "#7048e8",
    "weight": 1,
    "fill": True,
    "fillColor": "#7048e8",
    "fillOpacity": 0.9,
}


@dataclass(frozen=True)
class TileLayerSpec:
    """How one store layer goes into tiles and onto the map.

    ``properties`` are the columns kept in each feature (keep them few: each value is
    repeated in every tile); ``minzoom`` is the shallowest zoom with features (below it
    a tile is empty: 100,000 buildings at zoom 12 are noise, and one huge tile).
    """

    properties: tuple[str, ...]
    minzoom: int
    style: dict = field(default_factory=dict)
    popup: tuple[str, ...] = ()


TILE_LAYERS: dict[str, TileLayerSpec] = {
    "areas": TileLayerSpec(
        ("code", "name", "level"), 8, {**AREA_STYLE, "fill": False}, ("code", "name")
    ),
    "grids": TileLayerSpec(
        ("code", "name", "households"),
        10,
        {**GRID_STYLE, "fill": True},
        ("code", "name", "households"),
    ),
    "buildings": TileLayerSpec(
        ("name", "address", "households"),
        14,
        {**BUILDING_STYLE, "fill": True},
        ("name", "address", "households"),
    ),
    "streets": TileLayerSpec(("name", "highway"), 13, {**STREET_STYLE, "fill": False}, ("name",)),
    "cameras": TileLayerSpec(
        ("camera_type", "direction"), 13, CAMERA_STYLE, ("camera_type", "direction")
    ),
}
