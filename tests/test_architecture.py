"""Dependencies point one way: geo is pure, and the embedded store needs no DB driver."""

import ast
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


# -- the direction rule: api/routers -> services -> store -> geo ------------------------

PACKAGES = {"geo": "gridpatrol.geo", "store": "gridpatrol.store", "services": "gridpatrol.services"}
PACKAGES["api"] = "gridpatrol.api"


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports (top level and inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{alias.name}" for alias in node.names)
        elif (
            # lazy_module("gridpatrol.x") / lazy_import("gridpatrol.x", "f") import too, later
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("lazy_module", "lazy_import")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            out.add(node.args[0].value)
    return out


def _sources(folder: str):
    root = ROOT / folder
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [PACKAGES[folder.split("/")[0]], *folder.split("/")[1:], *rel.parts]
        package = ".".join(parts if rel.name == "__init__" else parts[:-1])
        yield path, package.removesuffix(".__init__")


def test_routers_import_no_store():
    for path, package in _sources("api/routers"):
        bad = {m for m in _imports(path, package) if m.startswith("gridpatrol.store")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: go through a service"


def test_store_imports_no_services_api_or_maps():
    for path, package in _sources("store"):
        bad = {
            m
            for m in _imports(path, package)
            if m.startswith(("gridpatrol.services", "gridpatrol.api", "gridpatrol.maps"))
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: store is persistence"


def test_services_import_no_api_or_maps():
    for path, package in _sources("services"):
        bad = {
            m
            for m in _imports(path, package)
            if m.startswith(("gridpatrol.api", "gridpatrol.maps"))
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_geo_imports_nothing_of_ours_outside_geo():
    for path, package in _sources("geo"):
        bad = {
            m
            for m in _imports(path, package)
            if m.startswith("gridpatrol")
            and not m.startswith("gridpatrol.geo")
            and not m.startswith("gridpatrol.lazy")  # standard library only (test below)
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: geo stays pure"


def test_the_import_checker_sees_relative_and_late_imports(tmp_path):
    # The checks above are only as good as _imports: prove it resolves what they rely on.
    src = tmp_path / "x.py"
    src.write_text(
        "from .base import Store\nfrom ..services import incidents\n"
        "def f():\n    from gridpatrol.store.files import read_vector_file\n"
        'osm = lazy_module("gridpatrol.store.osm")\n'
        'read_gpx = lazy_import("gridpatrol.store.gpx", "read_gpx")\n'
    )
    got = _imports(src, "gridpatrol.store")
    assert "gridpatrol.store.base" in got
    assert "gridpatrol.services" in got and "gridpatrol.services.incidents" in got
    assert "gridpatrol.store.files" in got
    assert "gridpatrol.store.osm" in got and "gridpatrol.store.gpx" in got


def test_the_lazy_import_helper_needs_only_the_standard_library():
    # geo may use gridpatrol.lazy (the one exception to "nothing of ours outside geo")
    got = _imports(ROOT / "gridpatrol" / "lazy.py", "gridpatrol")
    assert {m.split(".")[0] for m in got} <= set(sys.stdlib_module_names) | {"__future__"}


def test_services_and_store_modules_stay_small():
    for folder in ("services", "store"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = str(path.relative_to(ROOT))
            n = len(path.read_text().splitlines())
            assert n <= 900, f"{rel} has {n} lines: split it by task"
            if n > 600:
                assert "Over 600 lines because" in path.read_text(), (
                    f"{rel} has {n} lines: split it, or say why in a comment "
                    "'Over 600 lines because ...'"
                )
