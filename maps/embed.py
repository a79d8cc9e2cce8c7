"""The embed page: a token's layers inside its area, for other sites to iframe.

Renders only: the layers arrive scoped, clipped and (for incidents) aggregated and
suppressed, in WGS84. Incidents are drawn as counts per grid or cell, never as points.
"""

from __future__ import annotations

import folium
import geopandas as gpd
import shapely

from .base import add_basemap, add_legend, add_title, escape_frame, new_map, offline_html
from .i18n import labels
from .styles import BUILDING_STYLE, GRID_STYLE, STREET_STYLE

AREA_STYLE = {"color": "#1c7ed6", "weight": 2, "dashArray": "6 4", "fill": False}
SUPPRESSED_STYLE = {"color": "#868e96", "weight": 1, "fillColor": "#dee2e6", "fillOpacity": 0.35}
#: Count classes of the incident layer (lower bounds) and their fills.
COUNT_CLASSES = (
    (0, "#fee8c8"),
    (10, "#fdbb84"),
    (25, "#fc8d59"),
    (50, "#e34a33"),
    (100, "#b30000"),
)

_EXTRA = {
    "en": {
        "incidents_aggregate": "Incidents (counts)",
        "area": "Embed area",
        "suppressed_note": "fewer than {k}: not shown",
    },
    "zh": {
        "incidents_aggregate": "事件（数量）",
        "area": "嵌入范围",
        "suppressed_note": "少于 {k}：不显示",
    },
}

#: Drawing order, bottom to top.
ORDER = ("streets", "buildings", "areas", "grids", "incidents_aggregate", "stations", "cameras")


def _labels(lang: str) -> dict[str, str]:
    t = dict(labels(lang))
    t.update(_EXTRA.get(lang, _EXTRA["en"]))
    t.setdefault("embed_title", "Map")
    t.setdefault("count", "Count")
    t.setdefault("suppressed", "fewer than")
    return t


def _fill(count: int | None) -> str:
    colour = COUNT_CLASSES[0][1]
    for low, fill in COUNT_CLASSES:
        if count is not None and count >= low:
            colour = fill
    return colour


def render_embed(
    layers: dict[str, gpd.GeoDataFrame],
    *,
    area: shapely.Geometry,
    min_count: int = 5,
    title: str = "",
    basemap: str = "none",
    lang: str = "en",
) -> folium.Map:
    """Draw an embed's layers and its area outline.

    Parameters
    ----------
    layers
        Layer name -> features in WGS84, already limited to the public columns
        (``incidents_aggregate`` holds ``code``, ``name``, ``count``, ``suppressed``).
    area
        The token's area (WGS84); the map is fitted to it.
    min_count
        The suppression threshold, for the "fewer than k" text.
    title
        Shown after the page title (the token's label).
    """
    t = _labels(lang)
    m = new_map(area.bounds)
    add_basemap(m, basemap)
    add_title(m, f"{t['embed_title']} · {title}" if title else t["embed_title"], lang=lang)
    for name in ORDER:
        gdf = layers.get(name)
        if gdf is None:
            continue
        if name == "incidents_aggregate":
            _incidents(m, gdf, t, min_count)
        elif name in ("cameras", "stations"):
            _points(m, gdf, name, t)
        elif len(gdf):
            style = {"streets": STREET_STYLE, "buildings": BUILDING_STYLE, "grids": GRID_STYLE}.get(
                name, {"color": "#1c7ed6", "weight": 1.5, "fillOpacity": 0.05}
            )
            fields = [c for c in ("code", "name") if c in gdf.columns]
            folium.GeoJson(
                escape_frame(gdf),
                name=t.get(name, name),
                style_function=lambda f, s=style: s,
                tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[t[f] for f in fields])
                if fields and name != "buildings"
                else None,
            ).add_to(m)
    folium.GeoJson(
        gpd.GeoDataFrame(geometry=[area], crs=4326),
        name=t["area"],
        style_function=lambda f: AREA_STYLE,
    ).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def _incidents(m: folium.Map, units: gpd.GeoDataFrame, t: dict, min_count: int) -> None:
    if not len(units):
        return
    shown = units.assign(
        label=[
            f"{t['suppressed']} {min_count}" if s else str(c)
            for c, s in zip(units["count"], units["suppressed"], strict=True)
        ],
        title=[n or c for n, c in zip(units["name"], units["code"], strict=True)],
    )

    def style(feature):
        p = feature["properties"]
        if p["suppressed"]:
            return SUPPRESSED_STYLE
        return {"color": "#7f2704", "weight": 1, "fillColor": _fill(p["count"]), "fillOpacity": 0.6}

    uppers = [low for low, _ in COUNT_CLASSES[1:]]
    items = [
        (fill, f"{low}–{hi - 1}" if hi else f"{low}+")
        for (low, fill), hi in zip(COUNT_CLASSES, [*uppers, None], strict=True)
    ]
    items.append((SUPPRESSED_STYLE["fillColor"], f"{t['suppressed']} {min_count}"))
    add_legend(m, t["incidents_count"], items, element_id="gp-embed-legend")
    folium.GeoJson(
        escape_frame(shown[["title", "count", "suppressed", "label", "geometry"]]),
        name=t["incidents_aggregate"],
        style_function=style,
        highlight_function=lambda f: {"weight": 3},
        tooltip=folium.GeoJsonTooltip(
            fields=["title", "label"], aliases=[t["name"], t["incidents_count"]]
        ),
    ).add_to(m)


def _points(m: folium.Map, gdf: gpd.GeoDataFrame, name: str, t: dict) -> None:
    if not len(gdf):
        return
    group = folium.FeatureGroup(name=t.get(name, name))
    colour = "#7048e8" if name == "cameras" else "#2b8a3e"
    for row in gdf.itertuples():
        tip = getattr(row, "camera_type", None) or getattr(row, "name", None) or None
        folium.CircleMarker(
            location=(row.geometry.y, row.geometry.x),
            radius=4,
            color=colour,
            weight=1,
            fill=True,
            fill_opacity=0.9,
            tooltip=tip,
        ).add_to(group)
    group.add_to(m)


def embed_html(layers: dict[str, gpd.GeoDataFrame], **kwargs) -> str:
    """The embed page as HTML that loads nothing from the internet."""
    return offline_html(render_embed(layers, **kwargs))


# -- the page shell: no token, no data; its script fetches the layers -------------------

#: Runs inside the map's own (nonce'd) script. It reads the token from the URL fragment
#: (``#token=…``, never sent to the server, so never in a request line or access log),
#: asks ``scope`` and ``data/{layer}`` with the ``X-Embed-Token`` header, and draws the
#: layers. Texts go in as ``textContent``/DOM nodes, never as HTML.
_SHELL_JS = """
// A microtask: it runs once this whole script has run, so the map variable is set.
window.gpEmbedReady = Promise.resolve().then(function () {
  var map = %(map)s, t = %(labels)s, order = %(order)s, styles = %(styles)s;
  var classes = %(classes)s, minCount = %(min_count)d;
  var legend = document.getElementById('gp-embed-legend');
  if (legend) legend.style.display = 'none';
  function say(text) {
    var box = document.createElement('div');
    box.id = 'gp-embed-error';
    box.setAttribute('role', 'alert');
    box.style.cssText = 'position:fixed;top:50px;left:50px;z-index:1000;font:14px sans-serif;'
      + 'background:#fff5f5;color:#c92a2a;padding:6px 10px;border-radius:4px';
    box.textContent = text;
    document.body.appendChild(box);
    return {error: text};
  }
  var found = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!found || !found[1]) return Promise.resolve(say(t.no_token));
  var headers = {'X-Embed-Token': decodeURIComponent(found[1])};
  function get(path) {
    return fetch(path, {headers: headers, credentials: 'omit', cache: 'no-store'})
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(typeof body.detail === 'string' ? body.detail : r.status);
          return body;
        });
      });
  }
  function fill(count) {
    var colour = classes[0][1];
    classes.forEach(function (c) { if (count !== null && count >= c[0]) colour = c[1]; });
    return colour;
  }
  function text(value) {
    var el = document.createElement('span');
    el.textContent = value;
    return el;
  }
  function draw(name, fc) {
    if (name === 'incidents_aggregate') {
      return L.geoJSON(fc, {
        style: function (f) {
          var p = f.properties;
          return p.suppressed ? styles.suppressed
            : {color: '#7f2704', weight: 1, fillColor: fill(p.count), fillOpacity: 0.6};
        },
        onEachFeature: function (f, layer) {
          var p = f.properties;
          var label = p.suppressed ? t.suppressed + ' ' + minCount : String(p.count);
          layer.bindTooltip(text((p.name || p.code) + ' · ' + t.incidents_count + ': ' + label));
        }
      });
    }
    if (name === 'cameras' || name === 'stations') {
      var colour = name === 'cameras' ? '#7048e8' : '#2b8a3e';
      return L.geoJSON(fc, {
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, {radius: 4, color: colour, weight: 1, fill: true,
                                         fillOpacity: 0.9});
        },
        onEachFeature: function (f, layer) {
          var p = f.properties, tip = p.camera_type || p.name;
          if (tip) layer.bindTooltip(text(tip));
        }
      });
    }
    var style = styles[name] || styles.other;
    return L.geoJSON(fc, {
      style: function () { return style; },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        var tip = [p.code, p.name].filter(function (v) { return v; }).join(' · ');
        if (tip && name !== 'buildings') layer.bindTooltip(text(tip));
      }
    });
  }
  return get('scope').then(function (scope) {
    var title = document.getElementById('gp-title');
    if (title && scope.label) title.appendChild(document.createTextNode(' · ' + scope.label));
    var area = L.geoJSON(scope.area, {style: function () { return styles.area; },
                                      interactive: false});
    map.fitBounds(area.getBounds());
    var names = order.filter(function (n) { return scope.layers.indexOf(n) >= 0; });
    return Promise.all(names.map(function (n) { return get('data/' + n); }))
      .then(function (bodies) {
        var control = L.control.layers(null, null, {collapsed: true}).addTo(map);
        bodies.forEach(function (fc, i) {
          var layer = draw(names[i], fc).addTo(map);
          control.addOverlay(layer, t[names[i]] || names[i]);
        });
        area.addTo(map);
        control.addOverlay(area, t.area);
        if (legend && names.indexOf('incidents_aggregate') >= 0) legend.style.display = '';
        return {layers: names};
      });
  }).catch(function (e) { return say(e.message); });
});
"""


#: The labels the shell's script uses (besides the layer names).
_SHELL_LABELS = ("area", "suppressed", "incidents_count", "no_token")


def embed_shell_html(*, min_count: int = 5, basemap: str = "none", lang: str = "en") -> str:
    """The embed page without any data or token: its script takes the token from the URL
    fragment (``/embed/map#token=…``) and fetches the layers with the ``X-Embed-Token``
    header, so the token never appears in a URL the server sees."""
    import json

    t = _labels(lang)
    t.setdefault(
        "no_token",
        "没有嵌入令牌：请使用 /embed/map#token=…"
        if lang == "zh"
        else "no embed token: open this page as /embed/map#token=…",
    )
    m = new_map()
    add_basemap(m, basemap)
    add_title(m, t["embed_title"], lang=lang)
    uppers = [low for low, _ in COUNT_CLASSES[1:]]
    items = [
        (fill, f"{low}–{hi - 1}" if hi else f"{low}+")
        for (low, fill), hi in zip(COUNT_CLASSES, [*uppers, None], strict=True)
    ]
    items.append((SUPPRESSED_STYLE["fillColor"], f"{t['suppressed']} {min_count}"))
    add_legend(m, t["incidents_count"], items, element_id="gp-embed-legend")
    styles = {
        "streets": STREET_STYLE,
        "buildings": BUILDING_STYLE,
        "grids": GRID_STYLE,
        "other": {"color": "#1c7ed6", "weight": 1.5, "fillOpacity": 0.05},
        "area": AREA_STYLE,
        "suppressed": SUPPRESSED_STYLE,
    }

    def js(value) -> str:  # JSON inside a <script>: no "</script>" or "<!--" can close it
        return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")

    script = _SHELL_JS % {
        "map": m.get_name(),
        "labels": js({k: t.get(k, k) for k in (*ORDER, *_SHELL_LABELS)}),
        "order": js(list(ORDER)),
        "styles": js(styles),
        "classes": js([list(c) for c in COUNT_CLASSES]),
        "min_count": int(min_count),
    }
    m.get_root().script.add_child(folium.Element(script))
    return offline_html(m)
