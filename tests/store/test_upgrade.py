"""A store made by an earlier release opens in this one with every table ready.

The earlier release's code comes from git (``git archive``), laid out as its package
(``gridpatrol.geo`` = ``geo/`` ...) and run in a subprocess to write a small store; this
release then opens it and uses the tables the earlier one never had.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from gridpatrol.geo.model import Column, Layer, register_layer
from gridpatrol.store.base import open_store

ROOT = Path(__file__).resolve().parents[2]
#: The last commit before embed tokens (issue 16: the demo store had no such table).
BEFORE_EMBED_TOKENS = "fea5f83^"
PACKAGES = ("geo", "store", "api", "maps", "data")


def _old_release(tmp_path: Path, rev: str) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to rebuild an earlier release")
    try:
        blob = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", rev],
            check=True,
            capture_output=True,
        ).stdout
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"{rev} is not in this clone ({exc.stderr.decode().strip()})")
    tree = tmp_path / "tree"
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(tree, filter="data")
    pkg = tmp_path / "site" / "gridpatrol"
    shutil.copytree(tree / "gridpatrol", pkg)
    for name in PACKAGES:
        if (tree / name).is_dir():
            shutil.copytree(tree / name, pkg / name)
    return tmp_path / "site"


OLD_SCRIPT = """
import sys, geopandas as gpd, shapely
import gridpatrol.store.base as b
assert 'embed_tokens' not in __import__('gridpatrol.geo.model', fromlist=['x']).LAYERS
with b.open_store(sys.argv[1]) as s:
    s.write({"cameras": gpd.GeoDataFrame(
        {"source_id": ["c1"]}, geometry=[shapely.Point(24.94, 60.17)], crs=4326)})
print("old store written")
"""


def test_store_of_an_earlier_release_opens_with_new_tables(tmp_path):
    site = _old_release(tmp_path, BEFORE_EMBED_TOKENS)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    out = subprocess.run(
        [sys.executable, "-c", OLD_SCRIPT, url],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    with open_store(url) as store:
        assert store.count("cameras") == 1  # the old data is kept
        assert len(store.read("embed_tokens")) == 0  # the new table is there
        from gridpatrol.services.embed import create_token

        area = [24.9, 60.1, 25.0, 60.2]
        token, record = create_token(store, layers=["grids"], area=area, label="upgrade")
        assert token and len(store.read("embed_tokens")) == 1


def test_a_layer_registered_after_the_store_was_opened_gets_its_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with open_store(url) as store:
        store.count("cameras")
    late = register_layer(
        Layer(
            "late_test_layer",
            ("Point",),
            (Column("key", "str", True),),
            key=("key",),
            doc="registered after the first open (as a plug-in module would)",
        )
    )
    try:
        with open_store(url) as store:  # the schema is cached for this file now
            store.write(
                {
                    late.name: gpd.GeoDataFrame(
                        {"key": ["a"]}, geometry=[shapely.Point(0, 0)], crs=4326
                    )
                }
            )
            assert len(store.read(late.name)) == 1
            assert isinstance(store.read(late.name), pd.DataFrame)
    finally:
        from gridpatrol.geo import model

        model.LAYERS.pop(late.name, None)
