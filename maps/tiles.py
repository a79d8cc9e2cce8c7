"""Vector tiles on the map: which layers are tiled, and the Leaflet.VectorGrid element.

Large layers (a district has ~5,000 grids and ~100,000 buildings) are too heavy to
inline as GeoJSON in a page. The service cuts them into Mapbox Vector Tiles instead
(``GET /tiles/{layer}/{z}/{x}/{y}.pbf``, see ``gridpatrol.api.routers.tiles``) and the
page draws them with Leaflet.VectorGrid (vendored, works offline)::

    m = new_map(bounds)
    add_layer(m, "grids", grids)                   # <= 5,000 features: inline GeoJSON
    add_layer(m, "buildings", store.count(...))    # a count over the threshold: tiles

Tile math and the encoder live in :mod:`gridpatrol.maps.mvt`; this module says which
layers go into tiles and puts them on a map.

Renders only: everything arrives in WGS84 (lon, lat) ready to draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import folium
import geopandas as gpd
import numpy as np
from folium.plugins import VectorGridProtobuf
from folium.template import Template

from .styles import AREA_STYLE, BUILDING_STYLE, GRID_STYLE, STREET_STYLE

__all__ = [
    "TILE_LAYERS",
    "TILE_THRESHOLD",
    "TileLayerSpec",
    "VectorTileLayer",
    "add_layer",
    "use_tiles",
]

#: Layers with more features than this go to the map as vector tiles.
TILE_THRESHOLD = 5_000

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


# -- the map element ----------------------------------------------------------------
class VectorTileLayer(VectorGridProtobuf):
    """One layer of our vector tiles on a folium map (Leaflet.VectorGrid, canvas).

    Parameters
    ----------
    url
        Tile URL template, e.g. ``/tiles/buildings/{z}/{x}/{y}.pbf``.
    layer
        The layer's name inside the tiles (our endpoint names it after the store layer).
    name
        Name in the layer control.
    style
        Leaflet path options (points: circle options with ``radius``).
    popup
        Properties listed in a popup when a feature is clicked (labels = ``aliases``).
    min_zoom, max_zoom
        Zooms the layer shows at; below ``min_zoom`` it asks for no tiles.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) -%}
        // VectorGrid 1.3.0's canvas click handler calls L.DomEvent.fakeStop, which Leaflet
        // 1.8 removed (Leaflet.VectorGrid#274): clicks threw instead of opening popups.
        L.DomEvent.fakeStop = L.DomEvent.fakeStop || function (e) { e._stopped = true; };
        var {{ this.get_name() }} = L.vectorGrid.protobuf({{ this.url|tojson }}, {
            rendererFactory: L.canvas.tile,
            interactive: {{ 'true' if this.popup else 'false' }},
            vectorTileLayerStyles: { {{ this.layer|tojson }}: {{ this.style|tojson }} },
            minZoom: {{ this.min_zoom }},
            maxZoom: {{ this.max_zoom }},
            attribution: {{ this.attribution|tojson }}
        });
        // Leaflet gives a grid layer's minZoom to the whole map, and zooms the map in
        // to it when the layer is added (buildings from 14 would undo fitBounds). The
        // layer still loads no tiles outside its zooms.
        {{ this.get_name() }}.beforeAdd = function () {};
        {%- if this.popup %}
        {{ this.get_name() }}.on("click", function (e) {
            var props = (e.layer && e.layer.properties) || {};
            var box = document.createElement("div");
            {{ this.popup|tojson }}.forEach(function (field, i) {
                if (props[field] === undefined) { return; }
                var row = document.createElement("div"), label = document.createElement("b");
                label.textContent = {{ this.aliases|tojson }}[i] + ": ";
                row.appendChild(label);
                row.appendChild(document.createTextNode(String(props[field])));
                box.appendChild(row);
            });
            if (box.childNodes.length) {
                L.popup().setLatLng(e.latlng).setContent(box).openOn(e.target._map);
            }
        });
        {%- endif %}
        {%- endmacro %}
        """
    )

    def __init__(
        self,
        url: str,
        layer: str,
        *,
        name: str | None = None,
        style: Mapping | None = None,
        popup: tuple[str, ...] | list[str] = (),
        aliases: tuple[str, ...] | list[str] | None = None,
        min_zoom: int = 0,
        max_zoom: int = 20,
        attribution: str = "",
        show: bool = True,
    ) -> None:
        super().__init__(url, name=name or layer, show=show)
        self._name = "VectorTileLayer"
        self.layer = layer
        self.style = dict(style or {})
        self.popup = list(popup)
        self.aliases = list(aliases) if aliases is not None else list(popup)
        if len(self.aliases) != len(self.popup):
            raise ValueError(f"aliases {self.aliases} must match popup fields {self.popup}")
        self.min_zoom = int(min_zoom)
        self.max_zoom = int(max_zoom)
        self.attribution = attribution


def use_tiles(count: int, *, threshold: int = TILE_THRESHOLD) -> bool:
    """True when a layer of ``count`` features should go to the map as vector tiles."""
    return count > threshold


def add_layer(
    m: folium.Map,
    layer: str,
    data: gpd.GeoDataFrame | int,
    *,
    url: str = "/tiles/{layer}/{z}/{x}/{y}.pbf",
    threshold: int = TILE_THRESHOLD,
    name: str | None = None,
    style: Mapping | None = None,
    popup: Mapping[str, str] | None = None,
) -> folium.GeoJson | VectorTileLayer:
    """Add a store layer to ``m``: inline GeoJSON when small, vector tiles when large.

    Parameters
    ----------
    m
        The map.
    layer
        A key of :data:`TILE_LAYERS` (``grids``, ``buildings``, ``streets``, ``cameras``,
        ``areas``).
    data
        The features (WGS84), or only their count: a count over ``threshold`` means
        tiles without reading the features at all. A count at or under it is an error
        (inline needs the features).
    url
        Tile URL template; ``{layer}`` is filled in, ``{z}/{x}/{y}`` left to Leaflet.
    threshold
        Most features drawn inline.
    name
        Name in the layer control (default: ``layer``).
    style
        Leaflet path options (default: the layer's style in :data:`TILE_LAYERS`).
    popup
        Property -> label shown when a feature is clicked (default: the layer's
        ``popup`` fields, labelled by name).

    Returns
    -------
    The element added: a ``folium.GeoJson`` or a :class:`VectorTileLayer`.
    """
    try:
        spec = TILE_LAYERS[layer]
    except KeyError:
        raise ValueError(
            f"no tiles for layer {layer!r}; use one of {', '.join(TILE_LAYERS)}"
        ) from None
    style = dict(spec.style if style is None else style)
    popup = dict(popup) if popup is not None else {p: p for p in spec.popup}
    count = data if isinstance(data, (int, np.integer)) else len(data)
    if use_tiles(int(count), threshold=threshold):
        el = VectorTileLayer(
            url.replace("{layer}", layer),
            layer,
            name=name or layer,
            style=style,
            popup=list(popup),
            aliases=list(popup.values()),
            min_zoom=spec.minzoom,
        )
        return el.add_to(m)
    if isinstance(data, (int, np.integer)):
        raise ValueError(
            f"{layer}: {count} features is at or under the tile threshold ({threshold}): "
            "pass the features to draw them inline"
        )
    gdf = data
    fields = [p for p in popup if p in gdf.columns]
    cols = [c for c in spec.properties if c in gdf.columns]
    from .base import escape_frame  # tooltips insert properties as HTML

    geojson = folium.GeoJson(
        escape_frame(gdf[cols + [gdf.geometry.name]]),
        name=name or layer,
        style_function=lambda f: style,
        marker=folium.CircleMarker(radius=style.get("radius", 4)) if layer == "cameras" else None,
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[popup[f] for f in fields])
        if fields
        else None,
    )
    return geojson.add_to(m)
