"""Offline maps: every script, stylesheet and font comes from maps/static, never a CDN."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import branca.colormap as cm
import folium
import folium.plugins as plugins
import pytest
from folium.elements import JSCSSMixin

from gridpatrol.maps.assets import (
    STATIC_DIR,
    VENDOR_DIR,
    VENDORED_ASSETS,
    UnvendoredAssetError,
    external_assets,
    local_asset_url,
    render_offline_html,
    use_local_assets,
)

# The folium elements we promise to serve offline (Map covers Marker/Icon/GeoJson/...).
SUPPORTED = [
    folium.Map,
    plugins.MarkerCluster,
    plugins.HeatMap,
    plugins.Draw,
    plugins.GeoMan,
    plugins.Fullscreen,
    plugins.MeasureControl,
    plugins.LocateControl,
    plugins.MiniMap,
    plugins.PolyLineTextPath,
    plugins.AntPath,
    plugins.VectorGridProtobuf,
]

TAG_URL = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]*)\"""", re.IGNORECASE)
CDN_HOSTS = ("cdn", "unpkg", "jsdelivr", "cloudflare", "jquery.com", "github.io", "d3js.org")


def full_map() -> folium.Map:
    """A map using every supported plugin, a GeoJSON layer, icons and a legend."""
    m = folium.Map(location=[60.17, 24.94], zoom_start=15, tiles=None, maxZoom=19)
    cluster = plugins.MarkerCluster().add_to(m)
    folium.Marker([60.17, 24.94], icon=folium.Icon(icon="info-sign")).add_to(cluster)
    folium.Marker([60.171, 24.941], icon=folium.Icon(icon="car", prefix="fa", angle=45)).add_to(
        cluster
    )
    folium.Marker([60.172, 24.942]).add_to(m)
    plugins.HeatMap([[60.17, 24.94, 1.0], [60.171, 24.942, 0.5]]).add_to(m)
    folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": "grid 1"},
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [
                            [[24.93, 60.16], [24.95, 60.16], [24.95, 60.18], [24.93, 60.16]]
                        ],
                    },
                }
            ],
        },
        tooltip=folium.GeoJsonTooltip(["name"]),
    ).add_to(m)
    route = folium.PolyLine([[60.17, 24.94], [60.18, 24.95]]).add_to(m)
    plugins.PolyLineTextPath(route, "►", repeat=True).add_to(m)
    plugins.AntPath([[60.17, 24.94], [60.16, 24.93]]).add_to(m)
    plugins.Draw().add_to(m)
    plugins.GeoMan().add_to(m)
    plugins.Fullscreen().add_to(m)
    plugins.MeasureControl().add_to(m)
    plugins.LocateControl().add_to(m)
    plugins.MiniMap().add_to(m)
    plugins.VectorGridProtobuf("/tiles/{z}/{x}/{y}.pbf", "mvt").add_to(m)
    cm.LinearColormap(["green", "red"], vmin=0, vmax=10, caption="incidents").add_to(m)
    folium.LayerControl().add_to(m)
    return m


@pytest.fixture(scope="module")
def page() -> str:
    return render_offline_html(full_map())


def static_file(url: str, prefix: str = "/static"):
    assert url.startswith(prefix + "/"), url
    return STATIC_DIR / unquote(urlsplit(url).path[len(prefix) + 1 :])


def test_page_has_no_cdn_script_or_stylesheet(page):
    urls = TAG_URL.findall(page)
    assert len(urls) > 25, urls  # all the plugins' files are there...
    assert external_assets(page) == []
    for url in urls:  # ...and all of them are ours
        assert not url.startswith(("http:", "https:", "//")), url
        assert not any(host in url for host in CDN_HOSTS), url
        assert url.startswith("/static/vendor/") or url == "/static/favicon.svg", url


def test_every_asset_of_the_page_is_a_file_in_static(page):
    urls = [u for u in TAG_URL.findall(page) if u.startswith("/static/")]
    missing = [u for u in urls if not static_file(u).is_file()]
    assert not missing
    # each plugin's code really is in the page
    for needle in (
        "leaflet/leaflet.js",
        "leaflet.markercluster/leaflet.markercluster.js",
        "leaflet.heat/leaflet_heat.min.js",
        "leaflet-draw/leaflet.draw.js",
        "leaflet-geoman/leaflet-geoman.min.js",
        "leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
        "fontawesome/css/all.min.css",
        "bootstrap3-glyphicons/css/bootstrap-glyphicons.css",
        "d3/d3.min.js",
    ):
        assert f"/static/vendor/{needle}" in urls


def test_tile_urls_in_javascript_are_allowed():
    m = folium.Map(tiles="OpenStreetMap")
    html = render_offline_html(m)
    assert "tile.openstreetmap.org" in html  # a basemap option, not an asset
    assert external_assets(html) == []


def test_every_mapping_target_exists():
    missing = [rel for rel in VENDORED_ASSETS.values() if not (VENDOR_DIR / rel).is_file()]
    assert not missing


@pytest.mark.parametrize("cls", SUPPORTED, ids=lambda c: c.__name__)
def test_supported_elements_only_use_vendored_urls(cls):
    # Fails when a folium upgrade changes a URL: vendor the new file, then map it.
    for attr in ("default_js", "default_css"):
        for name, url in getattr(cls, attr):
            assert url in VENDORED_ASSETS, f"{cls.__name__}.{attr} {name}: {url}"


CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)""")
FONT_FACE = re.compile(r"@font-face\s*{[^}]*}", re.IGNORECASE)


def css_refs(css: str):
    """(url, inside @font-face) for each url() in ``css``, data: URIs skipped."""
    faces = [m.span() for m in FONT_FACE.finditer(css)]
    for m in CSS_URL.finditer(css):
        url = next(g for g in m.groups() if g is not None)
        if url.startswith(("data:", "#")) or not url:
            continue
        yield url, any(a <= m.start() < b for a, b in faces)


def test_vendored_css_references_resolve():
    css_files = sorted(VENDOR_DIR.rglob("*.css"))
    assert len(css_files) >= 12
    problems = []
    for css_path in css_files:
        css = css_path.read_text(encoding="utf-8")
        # drop data: URIs first: SVGs inside them carry url(#id) of their own
        css = re.sub(r"""url\(\s*(["'])data:.*?\1\s*\)""", "url(data:)", css, flags=re.S)
        css = re.sub(r"url\(\s*data:[^)]*\)", "url(data:)", css)
        assert not re.search(r"@import\s+(url\()?\s*['\"]?(https?:)?//", css), css_path
        for face in FONT_FACE.findall(css):
            # each font must have at least one format we ship (woff2 everywhere)
            srcs = [u for u, _ in css_refs(face)]
            if srcs and not any(
                (css_path.parent / urlsplit(u).path).resolve().is_file() for u in srcs
            ):
                problems.append(f"{css_path}: no font file for {srcs}")
        for url, in_font_face in css_refs(css):
            if urlsplit(url).scheme in ("http", "https") or url.startswith("//"):
                problems.append(f"{css_path}: remote {url}")
                continue
            if url.startswith("#default#"):  # old-IE VML behaviour in leaflet.css
                continue
            target = (css_path.parent / unquote(urlsplit(url).path)).resolve()
            if target.is_file():
                assert VENDOR_DIR in target.parents
            elif not (in_font_face and target.suffix in (".ttf", ".eot", ".svg", ".otf")):
                # only legacy font fallbacks (woff2 is there) may be left out
                problems.append(f"{css_path}: missing {url}")
    assert not problems


def test_each_library_has_a_licence_and_a_notice_entry():
    notice = (STATIC_DIR / "NOTICE.md").read_text(encoding="utf-8")
    libs = sorted(p for p in VENDOR_DIR.iterdir() if p.is_dir())
    assert len(libs) >= 15
    for lib in libs:
        assert any(
            f.name.upper().startswith(("LICENSE", "LICENCE", "MIT-LICENCE")) for f in lib.iterdir()
        ), f"{lib.name} has no licence file"
        assert f"vendor/{lib.name}/" in notice, f"{lib.name} missing from NOTICE.md"


def test_awesome_markers_supports_rotation():
    # npm's leaflet.awesome-markers.min.js is stale (no extraClasses): icons would not rotate
    url = next(u for u in VENDORED_ASSETS if u.endswith("leaflet.awesome-markers.js"))
    js = VENDOR_DIR / VENDORED_ASSETS[url]
    assert "extraClasses" in js.read_text(encoding="utf-8")


def test_unknown_plugin_raises_when_applied():
    m = folium.Map(tiles=None)
    plugins.Geocoder().add_to(m)
    with pytest.raises(UnvendoredAssetError, match="Control.Geocoder.js"):
        use_local_assets(m)


def test_element_added_later_raises_at_render():
    m = folium.Map(tiles=None)
    use_local_assets(m)
    plugins.Geocoder().add_to(m)
    with pytest.raises(UnvendoredAssetError, match="unpkg.com/leaflet-control-geocoder"):
        m.get_root().render()
    with pytest.raises(UnvendoredAssetError):
        render_offline_html(m)


def test_custom_element_with_unknown_cdn_raises():
    class Fancy(JSCSSMixin):
        default_js = [("fancy", "https://cdn.example.org/fancy@1.0/fancy.min.js")]

    m = folium.Map(tiles=None)
    Fancy().add_to(m)
    with pytest.raises(UnvendoredAssetError, match="Fancy.default_js"):
        render_offline_html(m)


def test_raw_script_tag_to_a_cdn_raises():
    m = folium.Map(tiles=None)
    m.get_root().header.add_child(
        folium.Element('<script src="https://cdn.example.org/x.js"></script>'), name="x"
    )
    with pytest.raises(UnvendoredAssetError, match="cdn.example.org"):
        render_offline_html(m)
    m2 = folium.Map(tiles=None)
    m2.get_root().html.add_child(
        folium.Element("<link rel='stylesheet' href='//fonts.example.org/a.css'>")
    )
    with pytest.raises(UnvendoredAssetError, match="fonts.example.org"):
        render_offline_html(m2)


def test_vendored_url_of_a_custom_element_is_rewritten():
    class Arrows(JSCSSMixin):  # e.g. our own route-arrow element
        default_js = [
            (
                "polylinedecorator",
                "https://cdn.jsdelivr.net/npm/leaflet-polylinedecorator@1.6.0/dist/"
                "leaflet.polylineDecorator.js",
            )
        ]

    m = folium.Map(tiles=None)
    Arrows().add_to(m)
    html = render_offline_html(m)
    assert '"/static/vendor/leaflet-polylinedecorator/leaflet.polylineDecorator.js"' in html


def test_prefix_is_used_and_kept():
    m = folium.Map(tiles=None)
    plugins.MarkerCluster().add_to(m)
    use_local_assets(m, prefix="/gp/static/")
    html = render_offline_html(m)  # keeps the prefix use_local_assets set
    urls = TAG_URL.findall(html)
    assert urls and all(u.startswith("/gp/static/") for u in urls), urls
    assert all(static_file(u, "/gp/static").is_file() for u in urls)
    html2 = render_offline_html(m, prefix="/s")
    assert "/s/vendor/leaflet/leaflet.js" in html2 and "/gp/static/" not in html2
    with pytest.raises(ValueError):
        use_local_assets(m, prefix="https://cdn.example.org")


def test_rendering_twice_and_save(tmp_path):
    m = full_map()
    use_local_assets(m)
    first = render_offline_html(m)
    assert render_offline_html(m).count("<script src=") == first.count("<script src=")
    out = tmp_path / "map.html"
    m.save(str(out))  # plain folium save goes through the same header
    assert external_assets(out.read_text(encoding="utf-8")) == []


def test_favicon_avoids_a_404():
    html = render_offline_html(folium.Map(tiles=None))
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in html
    assert (STATIC_DIR / "favicon.svg").is_file()
    m = folium.Map(tiles=None)
    use_local_assets(m, favicon=False)
    assert 'rel="icon"' not in m.get_root().render()


def test_local_asset_url():
    assert local_asset_url("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js") == (
        "/static/vendor/leaflet/leaflet.js"
    )
    for url in ("/static/app.js", "js/app.js", "data:text/css,", "../x.css"):
        assert local_asset_url(url) == url
    with pytest.raises(UnvendoredAssetError):
        local_asset_url("//cdn.example.org/a.js")
    with pytest.raises(UnvendoredAssetError):
        local_asset_url("http://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js")
