"""Bulk assignment: the dask path (2-worker LocalCluster) equals the single-process path."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridpatrol.services.imports import assign_file
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids

BOUNDS = (24.92, 60.16, 24.96, 60.18)


@pytest.fixture
def project(tmp_path):
    url = str(tmp_path / "p.db")
    with open_store(url) as s:
        s.write({"grids": quadrant_grids(BOUNDS)})
        s.write(
            {
                "areas": gpd.GeoDataFrame(
                    {"code": ["091001001001"], "level": ["community"], "parent_code": [""]},
                    geometry=[shapely.box(*BOUNDS)],
                    crs=4326,
                )
            }
        )
    return url


def incidents_csv(path, n=20_000, seed=1):
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "incident_id": np.arange(n),
            "lon": rng.uniform(24.915, 24.965, n),
            "lat": rng.uniform(60.158, 60.182, n),
        }
    ).to_csv(path, index=False)


def test_single_process(project, tmp_path):
    src = tmp_path / "inc.csv"
    incidents_csv(src, n=1000)
    with open_store(project) as s:
        n = assign_file(s, src, tmp_path / "out.parquet")
    out = gpd.read_parquet(tmp_path / "out.parquet")
    assert n == 1000 and len(out) == 1000
    inside = out[out["assignment"] != "unassigned"]
    assert inside["community_code"].eq("091001001001").all()
    # check against shapely directly
    grids = quadrant_grids(BOUNDS)
    for row in inside.sample(50, random_state=0).itertuples():
        hit = grids[grids.covers(row.geometry)]
        if len(hit):
            assert row.grid_code in set(hit["code"])


@pytest.mark.slow
def test_dask_local_cluster_equals_single_process(project, tmp_path):
    src = tmp_path / "inc.csv"
    incidents_csv(src)
    with open_store(project) as s:
        n1 = assign_file(s, src, tmp_path / "single.parquet")
        n2 = assign_file(
            s, src, tmp_path / "dask", scheduler="local", n_workers=2, blocksize="100KB"
        )
    assert n1 == n2 == 20_000
    single = (
        gpd.read_parquet(tmp_path / "single.parquet")
        .sort_values("incident_id")
        .reset_index(drop=True)
    )
    parts = sorted((tmp_path / "dask").glob("*.parquet"))
    assert len(parts) > 1  # really partitioned
    distributed = (
        pd.concat([gpd.read_parquet(p) for p in parts])
        .sort_values("incident_id")
        .reset_index(drop=True)
    )
    cols = ["incident_id", "grid_code", "community_code", "assignment"]
    pd.testing.assert_frame_equal(single[cols], distributed[cols])
