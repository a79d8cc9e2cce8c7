"""The service starts without the heavy libraries (issue 13: an answer within 2 s of launch).

Checked in a fresh interpreter: other tests import pandas into this one. Correctness only;
``bench/startup.py`` measures the time.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from gridpatrol.lazy import LazyAttribute, LazyModule, lazy_import, lazy_module

#: Loaded on first use, never to build the app or answer /openapi.json.
HEAVY = (
    "pandas",
    "geopandas",
    "shapely",
    "folium",
    "branca",
    "scipy",
    "networkx",
    "pyogrio",
    "pyproj",
    "numpy",
)


def _heavy_loaded_after(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(out.stdout.split())
    return [name for name in HEAVY if name in loaded]


def test_building_the_app_and_its_openapi_schema_imports_no_heavy_library(tmp_path):
    code = (
        "from fastapi.testclient import TestClient\n"
        "from gridpatrol.api.main import create_app\n"
        "from gridpatrol.api.settings import Settings\n"
        f"app = create_app(Settings(database_url='sqlite:///{tmp_path / 'p.db'}'))\n"
        "with TestClient(app, base_url='http://127.0.0.1') as client:\n"  # + startup hooks
        "    answer = client.get('/openapi.json')\n"
        "    assert answer.status_code == 200, answer.text\n"
        "    assert '/api/incidents' in answer.json()['paths']\n"
    )
    assert _heavy_loaded_after(code) == []


def test_the_command_line_imports_no_heavy_library_before_serving():
    # `gridpatrol serve` imports the app only once it runs; the command table is light.
    assert _heavy_loaded_after("import gridpatrol.cli") == []


def test_a_lazy_module_imports_on_first_use_and_then_is_the_module():
    code = (
        "from gridpatrol.lazy import lazy_module\n"
        "pd = lazy_module('pandas')\n"
        "import sys\n"
        "assert 'pandas' not in sys.modules\n"
        "assert pd.DataFrame({'a': [1]}).shape == (1, 1)\n"
        "assert 'pandas' in sys.modules\n"
        "assert lazy_module('pandas') is sys.modules['pandas']\n"
    )
    assert "pandas" in _heavy_loaded_after(code)


def test_lazy_names_call_and_read_through():
    colorsys = lazy_module("colorsys")  # small, and loaded by nothing else here
    assert isinstance(colorsys, LazyModule) or colorsys.__name__ == "colorsys"
    assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "rgb_to_hsv" in dir(colorsys)
    dumps = LazyAttribute("json", "dumps")
    assert dumps([1, "a"]) == '[1, "a"]'
    assert lazy_import("json", "dumps") is __import__("json").dumps  # loaded: the real one
    with pytest.raises(ModuleNotFoundError):
        lazy_module("gridpatrol.no_such_module").anything  # noqa: B018


def test_first_use_from_many_threads_sees_the_whole_module(tmp_path, monkeypatch):
    # Handlers run in a thread pool: the first requests may all touch a lazy module at
    # once, and none may see it half loaded (importlib.util.LazyLoader could, before
    # CPython 3.12.3).
    package = tmp_path / "slow_to_load.py"
    package.write_text("import time\ntime.sleep(0.2)\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    slow = LazyModule("slow_to_load")
    seen, errors = [], []
    start = threading.Barrier(8)

    def read():
        start.wait()
        try:
            seen.append(slow.VALUE)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.modules.pop("slow_to_load", None)
    assert errors == [] and seen == [42] * 8
