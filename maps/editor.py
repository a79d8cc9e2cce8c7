"""The planner's grid editor page: edit a draft grid version in the browser.

Python renders the page -- the map, the context layers (community boundary, buildings),
the Leaflet-Geoman toolbar, the side panel and the data the editor starts from; the
editing itself runs in ``static/editor.js`` (``window.gridEditor``), which talks to the
grid-versions API:

* ``PUT  {api}/grids/versions/{v}`` with ``If-Match`` to save (409: someone saved first),
* ``POST {api}/grids/versions/report`` after every edit (debounced) to validate,
* ``GET  {api}/grids/versions/{v}`` to reload after a conflict,
* ``POST {api}/grids/versions`` to copy an active or retired version into a new draft.

Everything the page loads comes from our own server (``static/editor.js`` and
``static/editor.css`` are served at ``{static_prefix}/``; the libraries are vendored).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import folium
import geopandas as gpd
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import GeoMan
from folium.template import Template

from .assets import STATIC_DIR
from .base import add_basemap, add_title, escape_text, new_map, offline_html
from .i18n import labels as shared_labels

__all__ = ["EDITOR_LABELS", "PROBLEM_STYLES", "GridEditor", "editor_html", "render_editor"]

BUILDING_STYLE = {"color": "#868e96", "weight": 0.5, "fillColor": "#ced4da", "fillOpacity": 0.55}
COMMUNITY_STYLE = {"color": "#1c7ed6", "weight": 2, "dashArray": "6 4", "fillOpacity": 0.0}

#: How each problem kind is drawn (Leaflet path options); points become circle markers.
PROBLEM_STYLES: dict[str, dict[str, Any]] = {
    "gap": {
        "color": "#c92a2a",
        "weight": 2,
        "dashArray": "4 3",
        "fillColor": "#ff6b6b",
        "fillOpacity": 0.55,
    },
    "overlap": {"color": "#862e9c", "weight": 2, "fillColor": "#cc5de8", "fillOpacity": 0.55},
    "crosses_parent": {"color": "#e67700", "weight": 2, "fillColor": "#ffc078", "fillOpacity": 0.5},
    "split_building": {"color": "#1864ab", "weight": 2, "fillColor": "#4dabf7", "fillOpacity": 0.6},
    "multipart": {"color": "#5f3dc4", "weight": 3, "dashArray": "2 4", "fillOpacity": 0.1},
    "noncontiguous": {"color": "#5f3dc4", "weight": 3, "dashArray": "8 4", "fillOpacity": 0.1},
    "households_out_of_band": {
        "color": "#e03131",
        "weight": 2,
        "fillColor": "#e03131",
        "fillOpacity": 0.8,
    },
    "unknown_parent": {"color": "#343a40", "weight": 2, "fillColor": "#868e96", "fillOpacity": 0.5},
}

#: Texts of the editor page. Problem messages come from the validator (English).
EDITOR_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "editor_title": "Grid editor",
        "version": "Version",
        "revision": "revision",
        "status_draft": "draft",
        "status_active": "active",
        "status_retired": "retired",
        "save": "Save",
        "reload": "Reload",
        "merge": "Merge selected",
        "split": "Split by a line",
        "delete": "Delete selected",
        "readonly": (
            "Version {version} is {status}: it can't be edited. Make a draft copy to change it."
        ),
        "copy": "Make a draft copy",
        "copying": "Creating the draft…",
        "help": "Draw a grid or cut a piece out of one with the toolbar on the left; "
        "drag vertices in edit mode; click grids to select them.",
        "saved": "Saved: revision {revision}.",
        "saving": "Saving…",
        "conflict": "Someone else saved this draft after you opened it "
        "(or it is no longer a draft). "
        "Your edits are not saved.",
        "reload_latest": "Reload the latest (drop my edits)",
        "save_as_new": "Save my edits as a new draft",
        "save_failed": "Saving failed",
        "report_failed": "Checking failed",
        "login_to_edit": "Log in to check and edit this grid version",
        "unsaved": "Unsaved changes",
        "no_changes": "No unsaved changes",
        "checking": "Checking…",
        "report_ok": "Checked",
        "split_help": "Draw a line across the grid; click the last point again to finish.",
        "split_none": "The line must cross a grid from one side to the other.",
        "merge_need_two": "Select two grids to merge.",
        "select_first": "Select a grid first.",
        "new_grid": "New grid",
        "summary": "Validation",
        "grids": "Grids",
        "share_in_band": "Households in band",
        "gap_area": "Gaps",
        "overlap_area": "Overlaps",
        "outside_area": "Outside community",
        "mean_pp": "Mean Polsby-Popper",
        "problems": "Problems",
        "none": "none",
        "code": "Code",
        "households": "Households",
        "pp": "Polsby-Popper",
        "community": "Community",
        "buildings": "Buildings",
        "kind_gap": "Gap",
        "kind_overlap": "Overlap",
        "kind_crosses_parent": "Outside community",
        "kind_split_building": "Split building",
        "kind_multipart": "Touching parts",
        "kind_noncontiguous": "Separate parts",
        "kind_households_out_of_band": "Households out of band",
        "kind_unknown_parent": "Unknown community",
    },
    "zh": {
        "editor_title": "网格编辑",
        "version": "版本",
        "revision": "修订",
        "status_draft": "草稿",
        "status_active": "已启用",
        "status_retired": "已停用",
        "save": "保存",
        "reload": "重新载入",
        "merge": "合并所选",
        "split": "画线拆分",
        "delete": "删除所选",
        "readonly": "版本 {version} {status}，不能编辑。请先复制为草稿再修改。",
        "copy": "复制为草稿",
        "copying": "正在创建草稿…",
        "help": "用左侧工具栏绘制网格或从网格中切出一块；编辑模式下拖动顶点；点击网格可选中。",
        "saved": "已保存：修订 {revision}。",
        "saving": "正在保存…",
        "conflict": "在您打开后，已有其他人保存了此草稿（或它已不是草稿）。您的修改尚未保存。",
        "reload_latest": "载入最新版本（放弃我的修改）",
        "save_as_new": "将我的修改另存为新草稿",
        "save_failed": "保存失败",
        "report_failed": "校验失败",
        "login_to_edit": "登录后即可校验和编辑此网格版本",
        "unsaved": "有未保存的修改",
        "no_changes": "没有未保存的修改",
        "checking": "正在校验…",
        "report_ok": "已校验",
        "split_help": "画一条穿过网格的线；再次点击最后一个点结束。",
        "split_none": "线必须从一侧穿到另一侧，完整穿过网格。",
        "merge_need_two": "请选择两个网格再合并。",
        "select_first": "请先选择一个网格。",
        "new_grid": "新网格",
        "summary": "校验结果",
        "grids": "网格数",
        "share_in_band": "户数达标比例",
        "gap_area": "空隙",
        "overlap_area": "重叠",
        "outside_area": "超出社区",
        "mean_pp": "平均紧凑度 (Polsby-Popper)",
        "problems": "问题",
        "none": "无",
        "code": "编码",
        "households": "户数",
        "pp": "紧凑度",
        "community": "社区边界",
        "buildings": "建筑",
        "kind_gap": "空隙",
        "kind_overlap": "重叠",
        "kind_crosses_parent": "超出社区边界",
        "kind_split_building": "建筑被分割",
        "kind_multipart": "多块相接",
        "kind_noncontiguous": "多块分离",
        "kind_households_out_of_band": "户数不在范围内",
        "kind_unknown_parent": "未知社区",
    },
}


def _labels(lang: str) -> dict[str, str]:
    return shared_labels(lang) | EDITOR_LABELS.get(lang, EDITOR_LABELS["en"])


def _static_version(name: str) -> str:
    """A short hash of a file under ``static/`` so browsers fetch a changed file again."""
    path = STATIC_DIR / name
    return hashlib.sha1(path.read_bytes()).hexdigest()[:10] if path.exists() else "0"


def _feature_collection(grids: gpd.GeoDataFrame) -> dict:
    """Grids as a WGS84 FeatureCollection with ``id`` = code (as the API serves them)."""
    if grids is None or grids.empty:
        return {"type": "FeatureCollection", "features": []}
    cols = [c for c in ("code", "name", "level", "parent_code", "kind", "households") if c in grids]
    data = json.loads(
        grids[[*cols, grids.geometry.name]].to_crs(4326).to_json(drop_id=True, na="null")
    )
    for feature in data["features"]:
        feature["id"] = feature["properties"].get("code")
    return data


class GridEditor(JSCSSMixin, MacroElement):
    """Starts ``static/editor.js`` on its parent map with the grids to edit.

    The script and stylesheet are local ``{static_prefix}/editor.{js,css}`` URLs, which
    :func:`gridpatrol.maps.assets.use_local_assets` passes through unchanged.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = window.gridEditor.init(
            {{ this._parent.get_name() }}, {{ this.config|tojson }}
        );
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any], *, static_prefix: str = "/static") -> None:
        super().__init__()
        self._name = "GridEditor"
        self.config = config
        prefix = static_prefix.rstrip("/")
        self.default_js = [
            ("gridpatrol_editor_js", f"{prefix}/editor.js?v={_static_version('editor.js')}")
        ]
        self.default_css = [
            ("gridpatrol_editor_css", f"{prefix}/editor.css?v={_static_version('editor.css')}")
        ]


def _panel(t: dict[str, str], *, lang: str, login_url: str, logged_in: bool) -> str:
    """The side panel's static HTML; editor.js fills in the dynamic parts."""
    e = escape_text
    return f"""
<aside id="gp-editor" lang="{"zh-CN" if lang == "zh" else "en"}"
  aria-label="{e(t["editor_title"])}">
  <h2 id="gp-heading"></h2>
  <p id="gp-login" class="gp-login"{"" if not logged_in else " hidden"}>
    <a href="{e(login_url)}">{e(t["login_to_edit"])}</a></p>
  <div id="gp-readonly" hidden>
    <p id="gp-readonly-text"></p>
    <button type="button" id="gp-copy" class="gp-primary">{e(t["copy"])}</button>
  </div>
  <div id="gp-tools">
    <div class="gp-buttons">
      <button type="button" id="gp-save" class="gp-primary">{e(t["save"])}</button>
      <button type="button" id="gp-reload">{e(t["reload"])}</button>
    </div>
    <div class="gp-buttons">
      <button type="button" id="gp-merge">{e(t["merge"])}</button>
      <button type="button" id="gp-split">{e(t["split"])}</button>
      <button type="button" id="gp-delete">{e(t["delete"])}</button>
    </div>
    <p class="gp-help">{e(t["help"])}</p>
  </div>
  <div id="gp-message" role="alert" hidden></div>
  <p id="gp-status" aria-live="polite"></p>
  <h3>{e(t["summary"])}</h3>
  <dl id="gp-summary"></dl>
  <ul id="gp-kinds"></ul>
  <table id="gp-grids">
    <thead><tr><th>{e(t["code"])}</th><th>{e(t["households"])}</th><th>{e(t["pp"])}</th></tr></thead>
    <tbody></tbody>
  </table>
</aside>"""


def render_editor(
    grids: gpd.GeoDataFrame,
    *,
    version: int,
    revision: int,
    status: str,
    buildings: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    basemap: str = "none",
    basemap_key: str = "",
    lang: str = "en",
    api_prefix: str = "/api",
    static_prefix: str = "/static",
    m: folium.Map | None = None,
    logged_in: bool = True,
) -> folium.Map:
    """The editor map of one grid version.

    Parameters
    ----------
    grids
        The version's grids (``code``, ``name``, ``level``, ``parent_code``, ``kind``,
        ``households``), any CRS.
    version, revision, status
        The version being edited, the revision its grids are at (sent back as
        ``If-Match`` on save) and its status; anything but ``draft`` opens read-only,
        offering a draft copy.
    buildings, communities
        Context layers (read-only), any CRS; buildings are not editable nor clickable,
        the community boundary can be snapped to.
    basemap, basemap_key
        As :func:`gridpatrol.maps.base.add_basemap`.
    lang
        ``en`` or ``zh``.
    api_prefix, static_prefix
        Where the API and the static files are served.
    m
        A map to draw on; a new one when None.
    logged_in
        Whether the browser has a session. Without one the page offers a link to log
        in (and back) instead of checking edits it may not send.
    """
    t = _labels(lang)
    editable = status == "draft"
    bounds = None
    for layer in (grids, communities, buildings):
        if layer is not None and len(layer):
            bounds = layer.to_crs(4326).total_bounds
            break
    m = m or new_map(bounds)
    add_basemap(m, basemap, key=basemap_key)
    add_title(m, f"{t['editor_title']} · {t['version']} {version}", lang=lang)

    parents: list[str] = []
    if communities is not None and len(communities):
        parents = sorted(communities["code"].astype(str))
        folium.GeoJson(
            communities[["code", "name", communities.geometry.name]].to_crs(4326),
            name=t["community"],
            style_function=lambda f: COMMUNITY_STYLE,
            interactive=False,
            pmIgnore=True,
            snapIgnore=False,  # new grids can snap to the community boundary
            control=False,
        ).add_to(m)
    if buildings is not None and len(buildings):
        folium.GeoJson(
            buildings[[buildings.geometry.name]].to_crs(4326),
            name=t["buildings"],
            style_function=lambda f: BUILDING_STYLE,
            interactive=False,
            pmIgnore=True,
            control=False,
        ).add_to(m)
    if editable:
        GeoMan(
            position="topleft",
            drawMarker=False,
            drawCircleMarker=False,
            drawPolyline=False,
            drawCircle=False,
            drawText=False,
            dragMode=False,
            rotateMode=False,
        ).add_to(m)
    base = api_prefix.rstrip("/") + "/grids/versions"
    login_url = f"/login?next=/editor/{int(version)}"
    config = {
        "version": int(version),
        "revision": int(revision),
        "status": status,
        "editable": editable,
        "lang": lang,
        "grids": _feature_collection(grids),
        "parents": parents,
        "labels": t,
        "styles": PROBLEM_STYLES,
        "urls": {
            "version": f"{base}/{int(version)}",
            "versions": base,
            # no walk tours: they take seconds to minutes and the editor shows none
            "report": f"{base}/report?walk_tours=false",
            "editor": "/editor/",
            "login": login_url,
        },
        "logged_in": bool(logged_in),
    }
    panel = _panel(t, lang=lang, login_url=login_url, logged_in=logged_in)
    m.get_root().html.add_child(folium.Element(panel), name="gp_editor_panel")
    GridEditor(config, static_prefix=static_prefix).add_to(m)
    return m


def editor_html(grids: gpd.GeoDataFrame, **kwargs: Any) -> str:
    """The editor page as HTML that loads nothing from the internet (see :func:`render_editor`)."""
    return offline_html(render_editor(grids, **kwargs))
