"""Patrol plan maps: one colour per team, station, dwell stops, direction arrows; and a
phone-sized page for one team's route with its turn list and GPX download."""

from __future__ import annotations

import html
import json

import folium
import geopandas as gpd
from folium.plugins import PolyLineTextPath

from .base import add_basemap, add_title, escape_text, new_map, offline_html
from .i18n import labels
from .steps import day_label, phrase_step

TEAM_COLOURS = [
    "#e03131",
    "#1971c2",
    "#2f9e44",
    "#f08c00",
    "#9c36b5",
    "#0c8599",
    "#e8590c",
    "#5c940d",
    "#c2255c",
    "#3b5bdb",
]


def team_colour(i: int) -> str:
    return TEAM_COLOURS[i % len(TEAM_COLOURS)]


def _stops(route_row) -> list[dict]:
    return json.loads(route_row["stops"] or "[]")


def _add_route(m, row, colour: str, t: dict, *, weight: float = 4.0) -> None:
    coords = [(y, x) for x, y in row.geometry.coords]
    line = folium.PolyLine(
        coords,
        color=colour,
        weight=weight,
        opacity=0.85,
        tooltip=f"{t['team']} {row['team_id']}: {row['length_m'] / 1000:.1f} km, "
        f"{row['minutes']:.0f} {t['minutes']}",
    ).add_to(m)
    # Arrows along the line show the direction of travel.
    PolyLineTextPath(
        line, "   ►   ", repeat=True, offset=4, attributes={"fill": colour, "font-size": "11"}
    ).add_to(m)


def _add_stops(target, stops: list[dict], t: dict, colour: str) -> None:
    for stop in stops:
        if stop["kind"] == "station":
            continue
        folium.CircleMarker(
            (stop["lat"], stop["lon"]),
            radius=7,
            color=colour,
            weight=2,
            fill=True,
            fill_color="#ffffff",
            fill_opacity=1.0,
            tooltip=f"{t['dwell']}: {stop['minutes']:.0f} {t['minutes']}",
        ).add_to(target)


def _add_station(m, stops: list[dict], t: dict) -> None:
    for stop in stops:
        if stop["kind"] == "station":
            folium.Marker(
                (stop["lat"], stop["lon"]),
                tooltip=t["station"],
                icon=folium.Icon(color="red", icon="home", prefix="fa"),
            ).add_to(m)
            return


UNREACHABLE_TITLE = {"en": "Unreachable streets", "zh": "无法到达的道路"}
UNREACHABLE_REASONS = {
    "en": {
        "disconnected": "Unreachable: not connected to the station's streets",
        "one_way": "Unreachable: one-way streets lead there but none back",
    },
    "zh": {
        "disconnected": "无法到达：与驿站所在路网不连通",
        "one_way": "无法到达：单行道只能进不能回",
    },
}


TERRITORY_TITLE = {"en": "Territories", "zh": "责任片区"}
TERRITORY_FIELDS = {
    "en": ("Team", "Share walked in other territories"),
    "zh": ("队伍", "在其他片区内行走的比例"),
}


def render_plan(
    routes: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame | None = None,
    day: int = 1,
    basemap: str = "none",
    lang: str = "en",
    unreachable: dict | None = None,
    territories: dict | None = None,
) -> folium.Map:
    """All teams' routes of one plan day, in team colours, with station and dwell stops.

    ``territories``: GeoJSON of each team's territory hull (``team_id``,
    ``interleave_share`` properties), drawn lightly in the team's colour under its route.

    ``unreachable``: GeoJSON of the streets no team can walk (``reason`` property
    ``"disconnected"`` or ``"one_way"``), drawn purple dashed with the reason and a legend entry.
    """
    t = labels(lang)
    day_routes = routes[routes["day"] == day].reset_index(drop=True)
    m = new_map(day_routes.total_bounds if len(day_routes) else None, canvas=False)
    add_basemap(m, basemap)
    add_title(m, f"{t['plan']} · {day_label(day, lang)}", lang=lang)
    if streets is not None and len(streets):
        folium.GeoJson(
            streets[["geometry"]],
            name=t["streets"],
            style_function=lambda f: {"color": "#adb5bd", "weight": 1, "opacity": 0.8},
        ).add_to(m)
    if unreachable and unreachable.get("features"):
        zh = lang == "zh"
        reasons = UNREACHABLE_REASONS["zh" if zh else "en"]
        features = [
            {**f, "properties": {"reason": reasons.get(f["properties"].get("reason"), "")}}
            for f in unreachable["features"]
        ]
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            name=UNREACHABLE_TITLE["zh" if zh else "en"],
            style_function=lambda f: {
                "color": "#862e9c",
                "weight": 3,
                "opacity": 0.9,
                "dashArray": "4 6",
            },
            tooltip=folium.GeoJsonTooltip(fields=["reason"], labels=False),
        ).add_to(m)
    teams = list(dict.fromkeys(day_routes["team_id"]))
    if territories and territories.get("features"):
        hulls = [f for f in territories["features"] if f["properties"].get("team_id") in teams]
        folium.GeoJson(
            {"type": "FeatureCollection", "features": hulls},
            name=TERRITORY_TITLE["zh" if lang == "zh" else "en"],
            style_function=lambda f: {
                "color": team_colour(teams.index(f["properties"]["team_id"])),
                "weight": 1,
                "opacity": 0.6,
                "fillOpacity": 0.08,
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["team_id", "interleave_share"],
                aliases=list(TERRITORY_FIELDS["zh" if lang == "zh" else "en"]),
            ),
        ).add_to(m)
    for _, row in day_routes.iterrows():
        colour = team_colour(teams.index(row["team_id"]))
        group = folium.FeatureGroup(name=f"{t['team']} {row['team_id']}").add_to(m)
        _add_route(group, row, colour, t)
        _add_stops(group, _stops(row), t, colour)
    seen = set()
    for _, row in day_routes.iterrows():  # teams may start from different stations
        home = next((s for s in _stops(row) if s["kind"] == "station"), None)
        if home is not None and (home["lat"], home["lon"]) not in seen:
            seen.add((home["lat"], home["lon"]))
            _add_station(m, [home], t)
    legend = "".join(
        f'<div><span style="display:inline-block;width:18px;height:4px;background:{team_colour(i)};'
        f'vertical-align:middle;margin-right:6px"></span>{escape_text(str(team))} · '
        f"{day_routes.loc[day_routes['team_id'] == team, 'length_m'].sum() / 1000:.1f} km</div>"
        for i, team in enumerate(teams)
    )
    if unreachable and unreachable.get("features"):
        # the purple dashed style of the unreachable streets drawn above
        legend += (
            '<div><span style="display:inline-block;width:18px;height:0;'
            'border-top:3px dashed #862e9c;vertical-align:middle;margin-right:6px"></span>'
            f"{escape_text(UNREACHABLE_TITLE['zh' if lang == 'zh' else 'en'])} · "
            f"{len(unreachable['features'])}</div>"
        )
    m.get_root().html.add_child(
        folium.Element(
            '<div id="gp-legend" style="position:fixed;bottom:64px;left:10px;z-index:1000;'
            "background:rgba(255,255,255,.92);padding:6px 10px;font:12px sans-serif;"
            f'border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3)"><b>{t["legend"]}</b>{legend}</div>'
        )
    )
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def plan_html(routes: gpd.GeoDataFrame, **kwargs) -> str:
    return offline_html(render_plan(routes, **kwargs))


PHONE_PAGE = """<!DOCTYPE html>
<html lang="{lang_attr}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/static/favicon.svg">
<style>
 body {{ margin:0; font:15px/1.4 system-ui, sans-serif; color:#212529; }}
 header {{ padding:10px 14px; background:{colour}; color:#fff; }}
 header h1 {{ font-size:17px; margin:0; }}
 header p {{ margin:2px 0 0; font-size:13px; opacity:.9; }}
 #map {{ height:45vh; }}
 #map iframe {{ border:0; width:100%; height:100%; }}
 .actions {{ padding:8px 14px; }}
 .actions a {{ display:inline-block; padding:8px 14px; background:{colour}; color:#fff;
   border-radius:6px; text-decoration:none; font-weight:600; }}
 ol {{ margin:0; padding:0 14px 20px 38px; }}
 li {{ padding:6px 0; border-bottom:1px solid #e9ecef; }}
 li small {{ color:#868e96; }}
 li.dwell {{ color:#c92a2a; font-weight:600; }}
</style>
</head>
<body>
<header><h1>{title}</h1><p>{subtitle}</p></header>
<div id="map"><iframe id="route-map" srcdoc="{map_srcdoc}" title="map"></iframe></div>
<div class="actions"><a id="gpx" href="{gpx_url}" download>{gpx_label}</a></div>
<h2 style="font-size:15px;margin:6px 14px">{turns_label}</h2>
<ol id="turns">{steps}</ol>
</body>
</html>
"""


def team_route_html(
    route: gpd.GeoDataFrame,
    *,
    team_index: int,
    gpx_url: str,
    basemap: str = "none",
    lang: str = "en",
) -> str:
    """A phone-sized page: the team's route on a map, its turn list and a GPX link."""
    t = labels(lang)
    colour = team_colour(team_index)
    row = route.iloc[0]
    m = new_map(route.total_bounds, canvas=False)
    add_basemap(m, basemap)
    for _, r in route.iterrows():
        _add_route(m, r, colour, t, weight=5)
        _add_stops(m, _stops(r), t, colour)
    _add_station(m, _stops(row), t)
    steps = []
    for r in route.itertuples():
        for step in json.loads(r.steps or "[]"):
            cls = ' class="dwell"' if step.get("action") == "dwell" else ""
            steps.append(
                f"<li{cls}>{escape_text(phrase_step(step, lang))}<br><small>"
                f"{step['cumulative_m'] / 1000:.2f} km · {step['cumulative_minutes']:.0f} {t['minutes']}"
                "</small></li>"
            )
    total_km = route["length_m"].sum() / 1000
    total_min = route["minutes"].sum()
    return PHONE_PAGE.format(
        lang_attr="zh-CN" if lang == "zh" else "en",
        title=escape_text(f"{t['team']} {row['team_id']}"),
        subtitle=escape_text(
            f"{day_label(int(row['day']), lang)} · {t['length']} {total_km:.1f} km · "
            f"{t['time']} {total_min:.0f} {t['minutes']}"
        ),
        colour=colour,
        # a whole page for srcdoc, not user text: plain HTML escaping
        map_srcdoc=html.escape(offline_html(m), quote=True),
        gpx_url=escape_text(gpx_url, quote=True),
        gpx_label=t["gpx"],
        turns_label=t["turns"],
        steps="".join(steps),
    )
