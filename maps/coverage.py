"""The camera-coverage layers of the cameras page: fields of view coloured by quality
band, blind streets, suggested camera sites, and a legend with the coverage figures.

Renders only: every value arrives computed (``services/cameras.py``), in WGS84.
"""

from __future__ import annotations

import html
import json

import folium
import geopandas as gpd

from .i18n import labels

BAND_COLOURS = {"identify": "#2b8a3e", "recognise": "#f59f00", "observe": "#74c0fc"}

LABELS = {
    "en": {
        "identify": "Identify (≥ 250 px/m)",
        "recognise": "Recognise (≥ 125 px/m)",
        "observe": "Observe (≥ 62.5 px/m)",
        "blind": "Blind streets",
        "sites": "Suggested cameras",
        "rank": "Rank",
        "incidents": "incidents near",
        "seen": "seen",
        "adds": "adds",
        "street_coverage": "Street coverage",
        "after": "after the suggestions",
        "legend": "Quality band",
        "edit": "Edit camera",
        "save": "Save",
        "fov": "Angle (°)",
        "direction": "Direction (°)",
        "range": "Range (m)",
        "height": "Height (m)",
        "saved": "saved: reload the page to redraw its view",
        "login": "log in as a planner to edit cameras",
        "unchanged": "nothing changed",
    },
    "zh": {
        "identify": "识别 (≥ 250 像素/米)",
        "recognise": "辨认 (≥ 125 像素/米)",
        "observe": "观察 (≥ 62.5 像素/米)",
        "blind": "监控盲区街道",
        "sites": "建议新增摄像头",
        "rank": "排名",
        "incidents": "附近事件",
        "seen": "可见",
        "adds": "新增",
        "street_coverage": "街道覆盖率",
        "after": "新增后",
        "legend": "画质等级",
        "edit": "编辑摄像头",
        "save": "保存",
        "fov": "视角 (°)",
        "direction": "朝向 (°)",
        "range": "距离 (米)",
        "height": "高度 (米)",
        "saved": "已保存：刷新页面以重新绘制视野",
        "login": "请以规划员身份登录后编辑",
        "unchanged": "没有改动",
    },
}


def add_coverage_layers(
    m: folium.Map,
    *,
    bands: gpd.GeoDataFrame | None = None,
    blind: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    site_views: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    summary: dict | None = None,
    lang: str = "en",
) -> None:
    """Add the coverage layers to ``m`` (call before its LayerControl).

    Parameters
    ----------
    bands
        From :func:`gridpatrol.services.cameras.camera_views`: ``band`` and polygons.
    blind
        Blind street segments with ``rank``, ``incidents``, ``seen_share``, ``name``.
    sites
        Suggested sites with ``rank`` and ``added_street_m``.
    site_views
        The suggested cameras' fields of view.
    buildings
        Footprints to draw under the views (small projects only), to see walls block.
    summary
        ``street_share`` (and ``street_share_after``) for the legend.
    """
    t = LABELS.get(lang, LABELS["en"])
    if buildings is not None and len(buildings):
        folium.GeoJson(
            buildings[["geometry"]],
            name=labels(lang)["buildings"],
            style_function=lambda f: {
                "color": "#495057",
                "weight": 0.6,
                "fillColor": "#adb5bd",
                "fillOpacity": 0.5,
            },
        ).add_to(m)
    if bands is not None and len(bands):
        # outer bands first so the identify band draws on top
        order = {"observe": 0, "recognise": 1, "identify": 2}
        data = bands.assign(_o=bands["band"].map(order)).sort_values("_o")
        folium.GeoJson(
            data[["source_id", "band", "geometry"]],
            name=labels(lang)["views"],
            style_function=lambda f: {
                "color": BAND_COLOURS.get(f["properties"]["band"], "#868e96"),
                "weight": 0.4,
                "fillColor": BAND_COLOURS.get(f["properties"]["band"], "#868e96"),
                "fillOpacity": 0.45,
            },
            tooltip=folium.GeoJsonTooltip(["source_id", "band"], labels=False),
        ).add_to(m)
    if blind is not None and len(blind):
        cols = [c for c in ("rank", "name", "incidents", "seen_share") if c in blind]
        folium.GeoJson(
            blind[[*cols, "geometry"]].assign(
                seen_share=(blind["seen_share"] * 100).round(0).astype(int)
            ),
            name=t["blind"],
            style_function=lambda f: {
                "color": "#e03131" if f["properties"].get("incidents", 0) else "#ff8787",
                "weight": 3 if f["properties"].get("incidents", 0) else 1.5,
                "opacity": 0.8,
            },
            tooltip=folium.GeoJsonTooltip(
                cols,
                aliases=[t["rank"], "", t["incidents"], f"% {t['seen']}"][: len(cols)],
            ),
        ).add_to(m)
    if sites is not None and len(sites):
        group = folium.FeatureGroup(name=t["sites"]).add_to(m)
        if site_views is not None and len(site_views):
            folium.GeoJson(
                site_views[["geometry"]],
                style_function=lambda f: {
                    "color": "#d9480f",
                    "weight": 1,
                    "dashArray": "4 3",
                    "fillOpacity": 0.08,
                },
            ).add_to(group)
        for row in sites.itertuples():
            folium.CircleMarker(
                (row.geometry.y, row.geometry.x),
                radius=7,
                color="#d9480f",
                weight=2,
                fill=True,
                fill_color="#ffd8a8",
                fill_opacity=1.0,
                tooltip=f"#{row.rank} · {t['adds']} {row.added_street_m:.0f} m",
            ).add_to(group)
    _legend(m, t, summary)


def _legend(m: folium.Map, t: dict, summary: dict | None) -> None:
    rows = "".join(
        f'<i style="display:inline-block;width:12px;height:12px;background:{c};'
        f'opacity:.7;margin-right:4px"></i>{html.escape(t[b])}<br>'
        for b, c in BAND_COLOURS.items()
    )
    rows += (
        '<i style="display:inline-block;width:12px;height:3px;background:#e03131;'
        f'margin:0 4px 3px 0"></i>{html.escape(t["blind"])}<br>'
    )
    figures = ""
    if summary:
        share = summary.get("street_share")
        if share is not None:
            figures = f"<b>{html.escape(t['street_coverage'])}: {share:.1%}</b>"
        after = summary.get("street_share_after")
        if after is not None:
            figures += f"<br>{html.escape(t['after'])}: {after:.1%}"
        if summary.get("note"):
            figures += f"<br><i>{html.escape(summary['note'])}</i>"
        figures += "<br>"
    m.get_root().html.add_child(
        folium.Element(
            '<div id="gp-coverage-legend" style="position:fixed;bottom:64px;left:10px;'
            "z-index:1000;background:rgba(255,255,255,.95);padding:6px 8px;"
            'font:12px sans-serif;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3)">'
            f"{figures}<b>{html.escape(t['legend'])}</b><br>{rows}</div>"
        )
    )


_EDIT_FIELDS = (
    ("direction", "direction", 0, 360, 1),
    ("fov", "fov", 1, 360, 1),
    ("range_m", "range", 0.5, 500, 0.5),
    ("height_m", "height", 0, 200, 0.1),
)


def camera_edit_popup(camera: dict, *, lang: str = "en") -> folium.Popup:
    """A small form to edit one camera's direction, angle, range and height.

    The page's script (:func:`add_camera_editing`) sends it as ``PATCH
    /api/cameras/{id}/edit``; the server checks the role (a planner's session cookie).
    """
    t = LABELS.get(lang, LABELS["en"])
    rows = []
    for name, label, lo, hi, step in _EDIT_FIELDS:
        value = camera.get(name)
        value = "" if value is None or value != value else f"{float(value):g}"
        rows.append(
            f'<label style="display:block">{html.escape(t[label])} '
            f'<input name="{name}" type="number" min="{lo}" max="{hi}" step="{step}" '
            f'value="{value}" style="width:5em"></label>'
        )
    form = (
        f'<form class="gp-cam-edit" data-id="{html.escape(str(camera["source_id"]))}" '
        'style="font:12px sans-serif">'
        f"<b>{html.escape(t['edit'])}</b><br>"
        f"<small>{html.escape(str(camera['source_id']))}</small>{''.join(rows)}"
        f'<button type="submit">{html.escape(t["save"])}</button> '
        '<span class="gp-cam-msg"></span></form>'
    )
    return folium.Popup(form, max_width=220)


def add_camera_editing(m: folium.Map, *, lang: str = "en") -> None:
    """The script behind :func:`camera_edit_popup` forms (one listener for all)."""
    t = LABELS.get(lang, LABELS["en"])
    msgs = json.dumps({k: t[k] for k in ("saved", "login", "unchanged")})
    m.get_root().html.add_child(
        folium.Element(
            "<script>(function () {\n"
            f"var T = {msgs};\n"
            """document.addEventListener('submit', function (ev) {
  var f = ev.target;
  if (!f.classList || !f.classList.contains('gp-cam-edit')) return;
  ev.preventDefault();
  var msg = f.querySelector('.gp-cam-msg'), body = {};
  Array.prototype.forEach.call(f.querySelectorAll('input'), function (i) {
    if (i.value !== '' && i.value !== i.defaultValue) body[i.name] = Number(i.value);
  });
  if (!Object.keys(body).length) { msg.textContent = T.unchanged; return; }
  fetch('/api/cameras/' + encodeURIComponent(f.dataset.id) + '/edit', {
    method: 'PATCH', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', Accept: 'application/json'},
    body: JSON.stringify(body)
  }).then(function (r) {
    return r.json().catch(function () { return {}; }).then(function (j) {
      if (r.status === 200) msg.textContent = T.saved;
      else if (r.status === 401 || r.status === 403) msg.textContent = T.login;
      else msg.textContent = j.detail || ('HTTP ' + r.status);
    });
  }).catch(function (e) { msg.textContent = String(e); });
});
})();</script>"""
        )
    )
