"""Map pages, embeds and vector tiles: renderers only, nothing computed here."""

from pathlib import Path

#: Folder to serve with ``StaticFiles`` (holds ``vendor/`` and ``NOTICE.md``); named here,
#: not in ``maps.assets``, so that the service can mount it without importing folium.
STATIC_DIR = Path(__file__).resolve().parent / "static"
