"""Thematic pages: grids as a choropleth, incidents as clusters and heat, cameras with
their fields of view. Renders only: the values arrive computed, in WGS84."""

from __future__ import annotations

import branca.colormap as cm
import folium
import geopandas as gpd
from folium.plugins import HeatMap, MarkerCluster

from .base import add_basemap, add_legend, add_title, escape_frame, escape_text, new_map
from .coverage import add_camera_editing, add_coverage_layers, camera_edit_popup
from .i18n import labels
from .styles import MEASURES


def render_grids(
    grids: gpd.GeoDataFrame,
    *,
    measure: str = "households",
    basemap: str = "none",
    basemap_key: str = "",
    lang: str = "en",
) -> folium.Map:
    """Grids coloured by ``measure`` (a column of ``grids``), with a legend."""
    t = labels(lang)
    names = {
        "households": t["households"],
        "incidents": t["incidents_count"],
        "camera_coverage": t["camera_coverage"],
    }
    m = new_map(grids.total_bounds if len(grids) else None)
    add_basemap(m, basemap, key=basemap_key)
    add_title(m, f"{t['grids_title']} · {names.get(measure, measure)}", lang=lang, nav=True)
    _measure_switch(m, measure, names, t, lang=lang)
    values = grids[measure].astype(float) if len(grids) else None
    if values is not None and "incidents_text" in grids:
        # small counts are hidden from this reader: coloured as none, shown as "<k"
        values = values.fillna(0.0)
        grids = grids.assign(incidents=grids["incidents_text"])
    if values is not None and len(values):
        lo, hi = float(values.min()), float(values.max())
        if hi <= lo:
            hi = lo + 1.0
        scale = cm.LinearColormap(["#fff5eb", "#fd8d3c", "#7f2704"], vmin=lo, vmax=hi)
        scale.caption = names.get(measure, measure) + (
            f" ({t['share']})" if measure == "camera_coverage" else ""
        )
        data = grids.assign(value=values.round(3))

        def style(feature):
            return {
                "color": "#495057",
                "weight": 1.5,
                "fillOpacity": 0.7,
                "fillColor": scale(feature["properties"]["value"]),
            }

        fields = [
            c for c in ("code", "name", "households", "incidents", "camera_coverage") if c in data
        ]
        folium.GeoJson(
            escape_frame(data[fields + ["value", "geometry"]]),
            name=t["grids"],
            style_function=style,
            highlight_function=lambda f: {"weight": 3},
            tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[_alias(f, t) for f in fields]),
        ).add_to(m)
        scale.add_to(m)
    return m


def _alias(field: str, t: dict) -> str:
    return {
        "code": t["code"],
        "name": t["name"],
        "households": t["households"],
        "incidents": t["incidents_count"],
        "camera_coverage": t["camera_coverage"],
    }.get(field, field)


def _measure_switch(m: folium.Map, current: str, names: dict, t: dict, *, lang: str) -> None:
    links = " · ".join(
        f"<b>{escape_text(names[k])}</b>"
        if k == current
        else f'<a href="?measure={k}&amp;lang={lang}">{escape_text(names[k])}</a>'
        for k in MEASURES
    )
    m.get_root().html.add_child(
        folium.Element(
            '<div id="gp-measure" style="position:fixed;top:62px;left:50px;z-index:1000;font:12px sans-serif;'
            'background:rgba(255,255,255,.9);padding:3px 8px;border-radius:4px">'
            f"{escape_text(t['measure'])}: {links}</div>"
        )
    )


def render_incidents(
    incidents: gpd.GeoDataFrame,
    *,
    categories: dict[str, str],
    filters: dict,
    grids: gpd.GeoDataFrame | None = None,
    hotspots: gpd.GeoDataFrame | None = None,
    hotspot_note: str | None = None,
    basemap: str = "none",
    basemap_key: str = "",
    lang: str = "en",
) -> folium.Map:
    """Incidents as clusters and a heat layer, Gi* hot and cold grids, and a filter form.

    ``categories`` maps keys to display names; ``filters`` holds the current values.
    ``hotspot_note`` is shown in the hot-spot legend (e.g. too few incidents to test).
    """
    t = labels(lang)
    bounds = (
        grids.total_bounds
        if grids is not None and len(grids)
        else (incidents.total_bounds if len(incidents) else None)
    )
    m = new_map(bounds)
    add_basemap(m, basemap, key=basemap_key)
    add_title(m, f"{t['incidents_title']} · {len(incidents)} {t['shown']}", lang=lang, nav=True)
    if grids is not None and len(grids):
        folium.GeoJson(
            grids[["code", "geometry"]],
            name=t["grids"],
            style_function=lambda f: {"color": "#d9480f", "weight": 1.5, "fillOpacity": 0.03},
        ).add_to(m)
    colours = {"hot": "#e03131", "cold": "#1c7ed6"}
    if grids is not None and len(grids):
        shown = set(hotspots["hotspot"]) if hotspots is not None and len(hotspots) else set()
        items = [(colours[k], t[f"hotspot_{k}"]) for k in ("hot", "cold") if k in shown]
        note = hotspot_note or (None if items else t["hotspot_none"])
        add_legend(m, t["hotspots"], items, element_id="gp-hotspot-legend", note=note)
        # on a phone the bottom corners belong to the filter form and the scale bar
        m.get_root().header.add_child(
            folium.Element(
                "<style>@media (max-width:600px) { #gp-hotspot-legend { bottom:auto!important;"
                "top:110px!important;right:auto!important;left:10px!important;max-width:60vw } }"
                "</style>"
            )
        )
    if hotspots is not None and len(hotspots):
        folium.GeoJson(
            escape_frame(hotspots[["code", "hotspot", "gi_z", "count", "geometry"]]),
            name=t["hotspots"],
            style_function=lambda f: {
                "color": colours.get(f["properties"]["hotspot"], "#868e96"),
                "weight": 2,
                "fillOpacity": 0.35,
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["code", "hotspot", "gi_z", "count"],
                aliases=[t["code"], t["hotspots"], "Gi* z", t["incidents_count"]],
            ),
        ).add_to(m)
    if len(incidents):
        cluster = MarkerCluster(name=t["incidents"]).add_to(m)
        for row in incidents.itertuples():
            text = (
                f"<b>{escape_text(categories.get(row.category, row.category))}</b><br>"
                f"{escape_text(str(row.description or ''))}<br>"
                f"{t['reported']}: {row.reported_at:%Y-%m-%d %H:%M}<br>"
                f"{t['status']}: {escape_text(row.status)} · {t['code']}: {escape_text(row.grid_code)}"
            )
            folium.CircleMarker(
                (row.geometry.y, row.geometry.x),
                radius=5,
                color="#c92a2a",
                fill=True,
                fill_opacity=0.8,
                popup=folium.Popup(text, max_width=260),
            ).add_to(cluster)
        HeatMap(
            [(p.y, p.x) for p in incidents.geometry],
            name=t["heat"],
            radius=18,
            blur=14,
            show=False,
        ).add_to(m)
    _filter_form(m, categories, filters, t)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _filter_form(m: folium.Map, categories: dict, filters: dict, t: dict) -> None:
    options = [f'<option value="">{escape_text(t["all"])}</option>'] + [
        f'<option value="{escape_text(k)}"{" selected" if filters.get("category") == k else ""}>'
        f"{escape_text(v)}</option>"
        for k, v in categories.items()
    ]

    def val(name):
        return escape_text(str(filters.get(name) or ""), quote=True)

    m.get_root().html.add_child(
        folium.Element(
            '<form id="gp-filter" method="get" style="position:fixed;bottom:64px;left:10px;z-index:1000;'
            "background:rgba(255,255,255,.95);padding:6px 8px;font:12px sans-serif;border-radius:4px;"
            'box-shadow:0 1px 4px rgba(0,0,0,.3)">'
            f"<b>{escape_text(t['filter'])}</b><br>"
            f'{escape_text(t["category"])} <select name="category">{"".join(options)}</select><br>'
            f'{escape_text(t["from"])} <input type="date" name="start" value="{val("start")}"> '
            f'{escape_text(t["to"])} <input type="date" name="end" value="{val("end")}"><br>'
            f'{escape_text(t["hours"])} <input name="hours" size="5" placeholder="18-23" value="{val("hours")}"> '
            f'<input type="hidden" name="lang" value="{val("lang")}">'
            f'<button type="submit">{escape_text(t["apply"])}</button></form>'
        )
    )


def render_cameras(
    cameras: gpd.GeoDataFrame,
    views: gpd.GeoDataFrame,
    *,
    grids: gpd.GeoDataFrame | None = None,
    coverage: dict | None = None,
    basemap: str = "none",
    basemap_key: str = "",
    lang: str = "en",
    bounds_hint=None,
) -> folium.Map:
    """Camera positions with their fields of view; with ``coverage`` (see
    :func:`gridpatrol.maps.coverage.add_coverage_layers`) the views stop at walls and
    are coloured by quality band, with blind streets and suggested sites.

    The map fits the cameras; with none, the grids, else the blind streets, else
    ``bounds_hint`` (the project's ``(minx, miny, maxx, maxy)``), never the whole world."""
    t = labels(lang)
    fit = [cameras, grids, (coverage or {}).get("blind")]
    fit = [layer.total_bounds for layer in fit if layer is not None and len(layer)]
    m = new_map(fit[0] if fit else bounds_hint)
    add_basemap(m, basemap, key=basemap_key)
    add_title(m, t["cameras_title"], lang=lang, nav=True)
    if grids is not None and len(grids):
        folium.GeoJson(
            grids[["code", "geometry"]],
            name=t["grids"],
            style_function=lambda f: {"color": "#d9480f", "weight": 1.5, "fillOpacity": 0.0},
        ).add_to(m)
    if coverage:
        add_coverage_layers(m, lang=lang, **coverage)
    elif len(views):
        folium.GeoJson(
            views[["source_id", "geometry"]],
            name=t["views"],
            style_function=lambda f: {
                "color": "#7048e8",
                "weight": 0.5,
                "fillColor": "#9775fa",
                "fillOpacity": 0.25,
            },
        ).add_to(m)
    group = folium.FeatureGroup(name=t["cameras"]).add_to(m)
    for row in cameras.itertuples():
        direction = t["unknown"] if row.direction != row.direction else f"{row.direction:.0f}°"
        tip = (
            f"{t['type']}: {row.camera_type} · {t['direction']}: {direction} · "
            f"{t['fov']}: {row.fov:.0f}° · {t['range']}: {row.range_m:.0f} m"
        )
        if row.defaulted:
            tip += f" ({t['defaulted']}: {row.defaulted})"
        folium.CircleMarker(
            (row.geometry.y, row.geometry.x),
            radius=4,
            color="#5f3dc4",
            weight=1,
            fill=True,
            fill_opacity=1.0,
            tooltip=tip,
            popup=camera_edit_popup(row._asdict(), lang=lang) if coverage else None,
        ).add_to(group)
    if coverage:
        add_camera_editing(m, lang=lang)
    folium.LayerControl(collapsed=False).add_to(m)
    return m
