"""Map pieces every page shares: the empty map, basemaps, offline HTML."""

from __future__ import annotations

import folium
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from .assets import render_offline_html, use_local_assets

OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def new_map(bounds=None, *, zoom_start: int = 15, canvas: bool = True) -> folium.Map:
    """A map with no tiles, fitted to ``bounds`` (min lon, min lat, max lon, max lat).

    ``canvas`` draws vectors on a canvas (fast for thousands of buildings); text along
    lines (route arrows) needs SVG, so maps with few layers pass False.
    """
    # maxZoom on the map itself: with no tile layer Leaflet has none, and MarkerCluster
    # refuses to start without it ("Map has no maxZoom specified").
    m = folium.Map(
        tiles=None,
        zoom_start=zoom_start,
        control_scale=True,
        prefer_canvas=canvas,
        maxZoom=20,
        zoomSnap=0.25,
    )
    if bounds is not None:
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        m.fit_bounds([(miny, minx), (maxy, maxx)])
    m.get_root().header.add_child(
        folium.Element("<style>.leaflet-container{background:#f8f9fa}</style>")
    )
    return m


#: Named basemaps: (URL template, attribution, datum of the tiles, subdomains).
#: AMap and Tencent draw in GCJ-02: our WGS84 layers must be shifted to line up
#: (see gridpatrol.geo.crs.from_wgs84). Tianditu is CGCS2000, within a metre of WGS84.
BASEMAPS = {
    "osm": (OSM_TILES, OSM_ATTRIBUTION, "wgs84", "abc"),
    "amap": (
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
        "&copy; 高德地图 AutoNavi",
        "gcj02",
        "1234",
    ),
    "tencent": (
        "https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&styleid=1000&scene=0",
        "&copy; 腾讯地图 Tencent",
        "gcj02",
        "0123",
    ),
    "tianditu": (
        "https://t{s}.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}&l={z}&tk={key}",
        "&copy; 天地图 Tianditu",
        "wgs84",
        "01234567",
    ),
}

#: Where the service serves tiles of a local MBTiles file (see api/routes/basemap.py).
LOCAL_TILES = "/basemap/{z}/{x}/{y}"


def basemap_datum(basemap: str | None) -> str:
    """``gcj02`` when the basemap is drawn in GCJ-02 (our layers must shift), else ``wgs84``."""
    name = (basemap or "none").split(":", 1)[0]
    return BASEMAPS[name][2] if name in BASEMAPS else "wgs84"


def add_basemap(m: folium.Map, basemap: str | None, *, key: str = "") -> None:
    """Add tiles: ``none`` (our own layers are the basemap), ``osm``, ``amap``, ``tencent``,
    ``tianditu`` (needs ``key``), ``local`` (an MBTiles file the service serves), or any
    tile URL template."""
    if basemap in ("", "none", None):
        # Our streets and buildings come from OSM: credit it even without tiles.
        Attribution(OSM_ATTRIBUTION).add_to(m)
        return
    if basemap == "local":
        url, attr, subdomains = LOCAL_TILES, "local tiles", "abc"
        Attribution(OSM_ATTRIBUTION).add_to(m)
    elif basemap in BASEMAPS:
        url, attr, _, subdomains = BASEMAPS[basemap]
        url = url.replace("{key}", key)
        if basemap != "osm":
            Attribution(OSM_ATTRIBUTION).add_to(m)  # our own layers are still OSM data
    else:
        url, attr, subdomains = basemap, OSM_ATTRIBUTION, "abc"
    folium.TileLayer(url, attr=attr, name="Basemap", max_zoom=19, subdomains=subdomains).add_to(m)


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


NAV_PAGES = (
    ("/", "title"),
    ("/maps/grids", "grids_title"),
    ("/maps/incidents", "incidents_title"),
    ("/maps/cameras", "cameras_title"),
)


def escape_text(value: object, quote: bool = True) -> str:
    """User text made safe for HTML text, HTML attributes, JS strings and JS template
    literals at once (folium puts popups and tooltips in backtick strings).

    ``html.escape`` covers ``< > & " '``; the backtick, ``$`` (``${`` would interpolate)
    and backslash are also turned into character references, which HTML shows as the
    characters and JavaScript leaves alone. ``quote`` is accepted for ``html.escape``
    call compatibility; quotes are always escaped.
    """
    import html

    text = html.escape("" if value is None else str(value), quote=True)
    return text.replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


def escape_frame(gdf):
    """A copy of ``gdf`` whose text columns are :func:`escape_text`-ed (for GeoJSON
    tooltips and popups, which folium inserts as HTML)."""
    out = gdf.copy()
    for col in out.columns:
        if col == getattr(out, "_geometry_column_name", None):
            continue
        # object columns, and pandas >= 3's own "str" dtype, which is not == object
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = [v if not isinstance(v, str) else escape_text(v) for v in out[col]]
    return out


def add_title(m: folium.Map, title: str, *, lang: str = "en", nav: bool = False) -> None:
    """A small title panel (plain HTML, so screen readers and tests can read it), with
    links to the other pages when ``nav``."""
    from .i18n import labels

    links = ""
    if nav:
        t = labels(lang)
        links = (
            '<br><span style="font-weight:400;font-size:12px">'
            + " · ".join(
                f'<a href="{path}?lang={lang}">{escape_text(t[key])}</a>' for path, key in NAV_PAGES
            )
            + "</span>"
        )
    m.get_root().html.add_child(
        folium.Element(
            f'<div id="gp-title" lang="{"zh-CN" if lang == "zh" else "en"}" '
            'style="position:fixed;top:10px;left:50px;z-index:1000;font:600 14px sans-serif;'
            "background:rgba(255,255,255,.9);padding:4px 10px;border-radius:4px;"
            f'box-shadow:0 1px 4px rgba(0,0,0,.3)">gridpatrol · {escape_text(title)}{links}</div>'
        )
    )


def offline_html(m: folium.Map) -> str:
    """HTML of ``m`` with every script and stylesheet served by us."""
    use_local_assets(m)
    return render_offline_html(m)


def add_legend(
    m: folium.Map,
    title: str,
    items: list[tuple[str, str]],
    *,
    element_id: str = "gp-legend",
    note: str | None = None,
    bottom_px: int = 28,
) -> None:
    """A legend box (bottom right): a swatch per ``(colour, label)``, and an optional
    note under it (e.g. why a layer shows nothing)."""
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:10px;margin-right:6px;'
        f'background:{escape_text(colour)};opacity:.8;border:1px solid #495057"></span>'
        f"{escape_text(label)}</div>"
        for colour, label in items
    )
    extra = (
        f'<div class="gp-legend-note" style="margin-top:4px;max-width:220px;color:#495057">'
        f"{escape_text(note)}</div>"
        if note
        else ""
    )
    m.get_root().html.add_child(
        folium.Element(
            f'<div id="{escape_text(element_id)}" class="legend gp-legend" '
            f'style="position:fixed;bottom:{bottom_px}px;right:10px;z-index:1000;'
            "background:rgba(255,255,255,.95);padding:6px 8px;font:12px sans-serif;"
            'border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3)">'
            f"<b>{escape_text(title)}</b>{rows}{extra}</div>"
        )
    )
