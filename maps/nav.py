"""The navigation bar every served page carries: root-relative links, language kept.

Routers add it to the finished HTML with :func:`with_nav`, so pages rendered by any
module (folium maps, the phone page, the API docs) get the same bar.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

NAV_LABELS = {
    "en": {
        "overview": "Overview",
        "grids": "Grids",
        "incidents": "Incidents",
        "cameras": "Cameras",
        "patrols": "Patrols",
        "editor": "Editor",
        "docs": "API docs",
    },
    "zh": {
        "overview": "概览",
        "grids": "网格",
        "incidents": "事件",
        "cameras": "摄像头",
        "patrols": "巡逻",
        "editor": "编辑",
        "docs": "接口文档",
    },
}

#: Height of the bar in pixels; pages are pushed down by it.
NAV_HEIGHT = 28

_STYLE = f"""<style>
#gp-nav{{position:fixed;top:0;left:0;right:0;height:{NAV_HEIGHT}px;z-index:2000;display:flex;
gap:2px 12px;align-items:center;flex-wrap:nowrap;overflow-x:auto;white-space:nowrap;
padding:0 10px;background:#fff;border-bottom:1px solid #ced4da;font:13px sans-serif;
box-sizing:border-box}}
#gp-nav a{{color:#0b5ed7;text-decoration:none}}
#gp-nav a[aria-current=page]{{color:#212529;font-weight:600}}
body{{padding-top:{NAV_HEIGHT}px!important;box-sizing:border-box}}
#gp-title{{top:{NAV_HEIGHT + 8}px!important}}
#gp-measure{{top:{NAV_HEIGHT + 60}px!important}}
</style>"""


@dataclass(frozen=True)
class NavTargets:
    """Where the bar's links go in this project."""

    editor_version: int | None = None
    plan_id: str | None = None


def nav_links(lang: str, targets: NavTargets) -> list[tuple[str, str, str]]:
    """(key, label, href) of every link, hrefs root-relative with ``?lang=``."""
    t = NAV_LABELS.get(lang, NAV_LABELS["en"])
    q = f"?lang={lang}"
    links = [
        ("overview", "/"),
        ("grids", "/maps/grids"),
        ("incidents", "/maps/incidents"),
        ("cameras", "/maps/cameras"),
        ("patrols", f"/patrols/{targets.plan_id}" if targets.plan_id else "/patrols"),
        ("editor", f"/editor/{targets.editor_version or 1}"),
        ("docs", "/docs"),
    ]
    return [(key, t[key], href + q) for key, href in links]


def nav_html(lang: str, targets: NavTargets, *, current: str | None = None) -> str:
    """The bar's HTML (a ``<nav>`` plus its style)."""
    items = []
    for key, label, href in nav_links(lang, targets):
        mark = ' aria-current="page"' if key == current else ""
        items.append(f'<a href="{html.escape(href, quote=True)}"{mark}>{html.escape(label)}</a>')
    aria = "页面" if lang == "zh" else "Pages"
    return f'{_STYLE}<nav id="gp-nav" aria-label="{aria}"><b>gridpatrol</b>{"".join(items)}</nav>'


def with_nav(page: str, lang: str, targets: NavTargets, *, current: str | None = None) -> str:
    """``page`` with the bar inserted right after its ``<body>`` tag."""
    bar = nav_html(lang, targets, current=current)
    match = re.search(r"<body[^>]*>", page, flags=re.IGNORECASE)
    if match is None:
        return bar + page
    return page[: match.end()] + bar + page[match.end() :]


def plans_index_html(rows: list[tuple[str, str, str, list[str]]], *, lang: str = "en") -> str:
    """A plain page listing patrol plans: (plan id, name, created, team ids) per row."""
    zh = lang == "zh"
    q = f"?lang={lang}"
    title = "巡逻计划" if zh else "Patrol plans"
    items = []
    for plan_id, name, created, teams in rows:
        pid = html.escape(plan_id, quote=True)
        team_links = " ".join(
            f'<a href="/patrols/{pid}/teams/{html.escape(t, quote=True)}{q}">{html.escape(t)}</a>'
            for t in teams
        )
        items.append(
            f'<li><a href="/patrols/{pid}{q}">{html.escape(name or plan_id)}</a> '
            f"<small>{html.escape(created)}</small><br>"
            f"{'队伍' if zh else 'Teams'}: {team_links}</li>"
        )
    empty = (
        "还没有巡逻计划：用 <code>gridpatrol plan</code> 或 POST /api/patrols/plans 生成。"
        if zh
        else "No patrol plan yet: make one with <code>gridpatrol plan</code> or "
        "POST /api/patrols/plans."
    )
    body = f"<ul>{''.join(items)}</ul>" if items else f"<p>{empty}</p>"
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if zh else "en"}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="/favicon.ico"><title>{title}</title></head>'
        f'<body style="font:14px sans-serif;margin:0 16px"><h1 style="font-size:20px">{title}</h1>'
        f"{body}</body></html>"
    )
