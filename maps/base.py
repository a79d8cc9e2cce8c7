"""Map pieces every page shares: the empty map, basemaps, offline HTML."""

from __future__ import annotations

import folium
from branca.element import MacroElement
from jinja2 import Template

from .assets import render_offline_html, use_local_assets

OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def new_map(bounds=None, *, zoom_start: int = 15, canvas: bool = True) -> folium.Map:
    """A map with no tiles, fitted to ``bounds`` (min lon, min lat, max lon, max lat).

    ``canvas`` draws vectors on a canvas (fast for thousands of buildings); text along
    lines (route arrows) needs SVG, so maps with few layers pass False.
    """
    # maxZoom on the map itself: with no tile layer Leaflet has none, and MarkerCluster
    # refuses to start without it ("Map has no maxZoom specified").
    m = folium.Map(
        tiles=None, zoom_start=zoom_start, control_scale=True, prefer_canvas=canvas, maxZoom=20,
        zoomSnap=0.25,
    )
    if bounds is not None:
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        m.fit_bounds([(miny, minx), (maxy, maxx)])
    m.get_root().header.add_child(
        folium.Element('<style>.leaflet-container{background:#f8f9fa}</style>')
    )
    return m


def add_basemap(m: folium.Map, basemap: str) -> None:
    """Add tiles: ``none`` (our own layers are the basemap), ``osm``, or a URL template."""
    if basemap in ("", "none", None):
        # Our streets and buildings come from OSM: credit it even without tiles.
        Attribution(OSM_ATTRIBUTION).add_to(m)
        return
    url = OSM_TILES if basemap == "osm" else basemap
    folium.TileLayer(url, attr=OSM_ATTRIBUTION, name="Basemap", max_zoom=19).add_to(m)


class Attribution(MacroElement):
    """Adds a credit line to the map's own attribution control."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text|tojson }});
        {% endmacro %}"""
    )

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Attribution"
        self.text = text


def add_title(m: folium.Map, title: str, *, lang: str = "en") -> None:
    """A small title panel (plain HTML, so screen readers and tests can read it)."""
    import html

    m.get_root().html.add_child(
        folium.Element(
            f'<div id="gp-title" lang="{"zh-CN" if lang == "zh" else "en"}" '
            'style="position:fixed;top:10px;left:50px;z-index:1000;font:600 14px sans-serif;'
            'background:rgba(255,255,255,.9);padding:4px 10px;border-radius:4px;'
            f'box-shadow:0 1px 4px rgba(0,0,0,.3)">gridpatrol · {html.escape(title)}</div>'
        )
    )


def offline_html(m: folium.Map) -> str:
    """HTML of ``m`` with every script and stylesheet served by us."""
    use_local_assets(m)
    return render_offline_html(m)
