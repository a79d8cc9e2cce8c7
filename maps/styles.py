"""Layer styles shared by the overview, embeds and vector tiles.

Kept apart so that ``maps.tiles`` and ``maps.overview`` (which draws big layers as
tiles) can both use them without importing each other.
"""

GRID_STYLE = {"color": "#d9480f", "weight": 2.5, "fillColor": "#ffa94d", "fillOpacity": 0.12}
BUILDING_STYLE = {"color": "#495057", "weight": 0.6, "fillColor": "#adb5bd", "fillOpacity": 0.6}
STREET_STYLE = {"color": "#868e96", "weight": 1.2, "opacity": 0.8}
AREA_STYLE = {"color": "#1c7ed6", "weight": 2, "dashArray": "6 4", "fillOpacity": 0.0}
