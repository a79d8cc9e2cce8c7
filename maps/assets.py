"""Serve every script, stylesheet and font of a folium map from this package.

Government networks are often offline: a map page must never load anything
from a CDN.  folium (0.20) and its plugins name their JS/CSS by CDN URL in the
class-level ``default_js``/``default_css`` lists (and branca's colormaps add d3
while rendering).  We vendor those files under ``static/vendor/`` (see
``static/NOTICE.md``) and rewrite the URLs when the page is rendered:

    m = folium.Map(tiles=None)
    MarkerCluster().add_to(m)
    html = render_offline_html(m)          # or: use_local_assets(m); m.save(...)

and serve :data:`STATIC_DIR` at the same prefix::

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

An asset we do not vendor raises :class:`UnvendoredAssetError` instead of
silently going to the internet: vendor it (and add it to
:data:`VENDORED_ASSETS`) or do without that plugin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType

from branca.element import Element, Figure, Link

from . import STATIC_DIR

__all__ = [
    "STATIC_DIR",
    "VENDOR_DIR",
    "VENDORED_ASSETS",
    "UnvendoredAssetError",
    "external_assets",
    "local_asset_url",
    "render_offline_html",
    "use_local_assets",
]

#: Third-party files, one folder per library, each with its licence.
VENDOR_DIR = STATIC_DIR / "vendor"

DEFAULT_PREFIX = "/static"

_FOLIUM_GH = "https://cdn.jsdelivr.net/gh/python-visualization/folium"
_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
_JSDELIVR = "https://cdn.jsdelivr.net/npm"

#: Upstream URL (as folium / branca / our own elements name it) -> file under
#: ``static/vendor``.  Exact strings: a folium upgrade that changes a URL (new
#: version) raises until the new file is vendored.
VENDORED_ASSETS: Mapping[str, str] = MappingProxyType(
    {
        # folium.Map defaults
        f"{_JSDELIVR}/leaflet@1.9.3/dist/leaflet.js": "leaflet/leaflet.js",
        f"{_JSDELIVR}/leaflet@1.9.3/dist/leaflet.css": "leaflet/leaflet.css",
        "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
        f"{_CDNJS}/jquery/3.7.1/jquery.min.js": "jquery/jquery.min.js",
        f"{_JSDELIVR}/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": (
            "bootstrap/js/bootstrap.bundle.min.js"
        ),
        f"{_JSDELIVR}/bootstrap@5.2.2/dist/css/bootstrap.min.css": (
            "bootstrap/css/bootstrap.min.css"
        ),
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": (
            "bootstrap3-glyphicons/css/bootstrap-glyphicons.css"
        ),
        f"{_JSDELIVR}/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": (
            "fontawesome/css/all.min.css"
        ),
        f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": (
            "leaflet.awesome-markers/leaflet.awesome-markers.js"
        ),
        f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": (
            "leaflet.awesome-markers/leaflet.awesome-markers.css"
        ),
        f"{_FOLIUM_GH}/folium/templates/leaflet.awesome.rotate.min.css": (
            "folium/leaflet.awesome.rotate.min.css"
        ),
        # branca colormaps (legends) add d3 while rendering
        f"{_CDNJS}/d3/3.5.5/d3.min.js": "d3/d3.min.js",
        # folium.plugins.MarkerCluster
        f"{_CDNJS}/leaflet.markercluster/1.1.0/leaflet.markercluster.js": (
            "leaflet.markercluster/leaflet.markercluster.js"
        ),
        f"{_CDNJS}/leaflet.markercluster/1.1.0/MarkerCluster.css": (
            "leaflet.markercluster/MarkerCluster.css"
        ),
        f"{_CDNJS}/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": (
            "leaflet.markercluster/MarkerCluster.Default.css"
        ),
        # folium.plugins.HeatMap (folium's patched leaflet.heat)
        f"{_FOLIUM_GH}@main/folium/templates/leaflet_heat.min.js": (
            "leaflet.heat/leaflet_heat.min.js"
        ),
        # folium.plugins.Draw
        f"{_CDNJS}/leaflet.draw/1.0.2/leaflet.draw.js": "leaflet-draw/leaflet.draw.js",
        f"{_CDNJS}/leaflet.draw/1.0.2/leaflet.draw.css": "leaflet-draw/leaflet.draw.css",
        # folium.plugins.Fullscreen
        f"{_JSDELIVR}/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": (
            "leaflet.fullscreen/Control.FullScreen.js"
        ),
        f"{_JSDELIVR}/leaflet.fullscreen@3.0.0/Control.FullScreen.css": (
            "leaflet.fullscreen/Control.FullScreen.css"
        ),
        # folium.plugins.MeasureControl
        "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js": (
            "leaflet-measure/leaflet-measure.min.js"
        ),
        "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css": (
            "leaflet-measure/leaflet-measure.css"
        ),
        # folium.plugins.LocateControl
        f"{_CDNJS}/leaflet-locatecontrol/0.66.2/L.Control.Locate.min.js": (
            "leaflet.locatecontrol/L.Control.Locate.min.js"
        ),
        f"{_CDNJS}/leaflet-locatecontrol/0.66.2/L.Control.Locate.min.css": (
            "leaflet.locatecontrol/L.Control.Locate.min.css"
        ),
        # folium.plugins.MiniMap
        f"{_CDNJS}/leaflet-minimap/3.6.1/Control.MiniMap.js": (
            "leaflet-minimap/Control.MiniMap.min.js"
        ),
        f"{_CDNJS}/leaflet-minimap/3.6.1/Control.MiniMap.css": (
            "leaflet-minimap/Control.MiniMap.min.css"
        ),
        # folium.plugins.PolyLineTextPath, AntPath
        f"{_JSDELIVR}/leaflet-textpath@1.2.3/leaflet.textpath.min.js": (
            "leaflet-textpath/leaflet.textpath.js"
        ),
        f"{_JSDELIVR}/leaflet-ant-path@1.1.2/dist/leaflet-ant-path.min.js": (
            "leaflet-ant-path/leaflet-ant-path.js"
        ),
        # leaflet-polylinedecorator: no folium plugin; for our own route-arrow element
        f"{_JSDELIVR}/leaflet-polylinedecorator@1.6.0/dist/leaflet.polylineDecorator.js": (
            "leaflet-polylinedecorator/leaflet.polylineDecorator.js"
        ),
        # folium.plugins.GeoMan (folium asks for @latest; we pin 2.20.2)
        "https://unpkg.com/@geoman-io/leaflet-geoman-free@latest/dist/leaflet-geoman.js": (
            "leaflet-geoman/leaflet-geoman.min.js"
        ),
        "https://unpkg.com/@geoman-io/leaflet-geoman-free@latest/dist/leaflet-geoman.css": (
            "leaflet-geoman/leaflet-geoman.css"
        ),
        # folium.plugins.VectorGridProtobuf (folium asks for @latest; we pin 1.3.0)
        "https://unpkg.com/leaflet.vectorgrid@latest/dist/Leaflet.VectorGrid.bundled.js": (
            "leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"
        ),
    }
)


class UnvendoredAssetError(RuntimeError):
    """A map element wants a script/stylesheet from the internet that we don't ship."""

    def __init__(self, url: str, where: str = ""):
        self.url = url
        self.where = where
        super().__init__(
            f"{where + ': ' if where else ''}asset {url!r} is not vendored in "
            f"{VENDOR_DIR}; the page would load it from the internet. Vendor it from npm "
            "(see static/NOTICE.md) and add it to gridpatrol.maps.assets.VENDORED_ASSETS, "
            "or don't use that element."
        )


_EXTERNAL = re.compile(r"^\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//")


def _is_external(url: str) -> bool:
    """True for http(s):// and protocol-relative //host URLs (not data:, not paths)."""
    return bool(_EXTERNAL.match(url))


def _norm_prefix(prefix: str) -> str:
    prefix = prefix.rstrip("/")
    if _is_external(prefix):
        raise ValueError(f"prefix must be a path on our own server, not {prefix!r}")
    return prefix


def local_asset_url(url: str, *, prefix: str = DEFAULT_PREFIX, where: str = "") -> str:
    """Our URL for ``url``: ``{prefix}/vendor/...`` for a known upstream URL.

    URLs that already point at our server (paths, relative URLs, ``data:``)
    come back unchanged; any other ``http(s)://``/``//`` URL raises
    :class:`UnvendoredAssetError`.
    """
    if not _is_external(url):
        return url
    try:
        rel = VENDORED_ASSETS[url.strip()]
    except KeyError:
        raise UnvendoredAssetError(url, where) from None
    return f"{_norm_prefix(prefix)}/vendor/{rel}"


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in element._children.values():
        yield from _walk(child)


def _check_declared_assets(root: Element) -> None:
    """Fail early for elements whose ``default_js``/``default_css`` we don't ship."""
    for el in _walk(root):
        for attr in ("default_js", "default_css"):
            for _name, url in getattr(el, attr, None) or ():
                local_asset_url(url, where=f"{type(el).__name__}.{attr}")


class _LocalAssetHeader(Element):
    """A figure header that points its script/link children at our own server.

    Figure.render() renders the map tree first (that is when folium's
    JSCSSMixin and branca's colormaps add their JavascriptLink/CssLink
    children to the header) and the header last, so rewriting here catches
    every asset, however late it was added.
    """

    _gridpatrol_prefix = DEFAULT_PREFIX

    def render(self, **kwargs) -> str:
        for name, child in self._children.items():
            if isinstance(child, Link):
                child.url = local_asset_url(
                    child.url, prefix=self._gridpatrol_prefix, where=f"header link {name!r}"
                )
        html = super().render(**kwargs)
        bad = external_assets(html)
        if bad:
            raise UnvendoredAssetError(bad[0], "raw HTML in the page header")
        return html


def use_local_assets(m: Element, *, prefix: str = DEFAULT_PREFIX, favicon: bool = True) -> Element:
    """Make ``m``'s page load all JS/CSS/fonts from ``{prefix}/vendor/...``.

    ``m`` is a ``folium.Map`` (or any element in a branca ``Figure``).  Checks
    the elements already in the tree now (raising :class:`UnvendoredAssetError`
    for an asset we don't ship) and hooks the figure's header so that every
    link -- also from elements added later -- is rewritten (or refused) when
    the page is rendered by ``render_offline_html``, ``m.save`` or
    ``m.get_root().render()``.  Idempotent; the last prefix wins.  Returns ``m``.

    With ``favicon`` the page links our ``{prefix}/favicon.svg`` (header child
    named ``"favicon"``), so browsers don't ask for ``/favicon.ico`` -- a 404
    error in every page's console otherwise.  ``False`` leaves that alone.
    """
    prefix = _norm_prefix(prefix)
    figure = m.get_root()
    if not isinstance(figure, Figure):
        raise TypeError(f"{type(m).__name__} is not inside a branca Figure; add it to a map first")
    _check_declared_assets(m)
    header = figure.header
    if not isinstance(header, _LocalAssetHeader):
        # Swap the class of the existing header in place: its children, id and
        # parent stay, and anyone holding figure.header keeps the same object.
        header.__class__ = _LocalAssetHeader
    header._gridpatrol_prefix = prefix
    if favicon:
        header.add_child(
            Element(f'<link rel="icon" type="image/svg+xml" href="{prefix}/favicon.svg">'),
            name="favicon",
        )
    return m


# <script ... src="X"> and <link ... href="X">, any attribute order and quoting
_TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""\b(src|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*["']?((?:[a-zA-Z]+:)?//[^"')\s;]+)""")


def external_assets(html: str) -> list[str]:
    """URLs of scripts, stylesheets (``<link>``) and CSS ``@import``s in ``html``
    that would be fetched from another host.  URLs inside JavaScript strings
    (tile layer templates, links in attributions) are not assets and not listed."""
    found = []
    for tag in _TAG.finditer(html):
        for attr in _ATTR.finditer(tag.group(0)):
            url = next(g for g in attr.groups()[1:] if g is not None)
            if _is_external(url):
                found.append(url)
    found.extend(m.group(1) for m in _CSS_IMPORT.finditer(html))
    return found


def render_offline_html(m: Element, *, prefix: str | None = None) -> str:
    """The full HTML page of ``m`` with every asset served from ``prefix``.

    Applies :func:`use_local_assets` (with ``prefix``; when None, the prefix an
    earlier ``use_local_assets`` call set, else ``/static``), renders the
    figure and checks that no ``<script src>``/``<link href>`` goes to another
    host -- raising :class:`UnvendoredAssetError` if one does.
    """
    figure = m.get_root()
    if prefix is None:
        prefix = getattr(getattr(figure, "header", None), "_gridpatrol_prefix", DEFAULT_PREFIX)
    use_local_assets(m, prefix=prefix)
    html = figure.render()
    bad = external_assets(html)
    if bad:
        raise UnvendoredAssetError(bad[0], "rendered page")
    return html
