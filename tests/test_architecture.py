"""Dependencies point one way: geo is pure, and the embedded store needs no DB driver."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_geo_imports_no_web_maps_or_database():
    mods = _modules_after(
        "import gridpatrol.geo.model, gridpatrol.geo.incidents, gridpatrol.geo.grids, "
        "gridpatrol.geo.assignment, gridpatrol.geo.hotspots, gridpatrol.geo.patrol, "
        "gridpatrol.geo.walks, gridpatrol.geo.compliance, gridpatrol.geo.grid_report, "
        "gridpatrol.geo.districting, gridpatrol.geo.dispatch, gridpatrol.geo.cameras"
    )
    for banned in (
        "fastapi",
        "folium",
        "psycopg",
        "sqlite3",
        "gridpatrol.store",
        "gridpatrol.api",
        "gridpatrol.maps",
    ):
        assert banned not in mods, banned


def test_embedded_store_needs_no_database_driver():
    mods = _modules_after(
        "import tempfile, os\nfrom gridpatrol.store.base import open_store\n"
        "open_store(os.path.join(tempfile.mkdtemp(), 'x.db')).close()"
    )
    assert "psycopg" not in mods


def test_geo_sources_do_no_io():
    for path in (ROOT / "geo").rglob("*.py"):
        text = path.read_text()
        for call in ("open(", "read_file(", "to_file(", "requests.", "urllib"):
            assert call not in text.replace("shapely.", "").replace("reopen", ""), (path, call)
