"""Layer styles shared by the overview, embeds and vector tiles, and the tables that name
what a page or a tile can show (:data:`MEASURES`, :data:`TILE_LAYERS`).

Kept apart so that ``maps.tiles`` and ``maps.overview`` (which draws big layers as
tiles) can both use them without importing each other, and free of folium so that the
service's routers can name them without importing folium when the app is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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

    What goes into a tile is said here once, as data, so that both ways of cutting
    tiles follow it: the Python encoder (``gridpatrol.api.routers.tiles``) and the
    PostGIS query (:meth:`gridpatrol.store.base.Store.tile`). ``where`` are fixed
    equality filters; ``joined`` makes a property from columns joined by a space
    (empty when all are); ``rounded`` properties are rounded to whole numbers;
    ``undirected`` names (u, v, more key columns...): rows that differ only in the
    direction of (u, v) are one feature, drawn once.
    """

    properties: tuple[str, ...]
    minzoom: int
    style: dict = field(default_factory=dict)
    popup: tuple[str, ...] = ()
    where: Mapping[str, Any] = field(default_factory=dict)
    joined: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rounded: tuple[str, ...] = ()
    undirected: tuple[str, ...] = ()

    @property
    def columns(self) -> dict[str, tuple[str, ...]]:
        """Each property -> the store columns it is made of."""
        return {p: tuple(self.joined.get(p, (p,))) for p in self.properties}


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
        joined={"address": ("addr_street", "addr_housenumber")},
    ),
    "streets": TileLayerSpec(
        ("name", "highway"),
        13,
        {**STREET_STYLE, "fill": False},
        ("name",),
        where={"network": "walk"},
        # One row per directed edge: a two-way street is two rows; draw it once.
        undirected=("u", "v", "key"),
    ),
    "cameras": TileLayerSpec(
        ("camera_type", "direction"),
        13,
        CAMERA_STYLE,
        ("camera_type", "direction"),
        rounded=("direction",),
    ),
}
