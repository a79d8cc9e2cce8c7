"""A small project for the schemathesis run: four grids in central Helsinki, a community,
a few incidents; prints an admin token on its last line."""

from __future__ import annotations

import sys

import geopandas as gpd
import pandas as pd
import shapely

from gridpatrol.services.incidents import ingest_incidents
from gridpatrol.services.tokens import create_api_token
from gridpatrol.store.base import open_store

BOX = (24.93, 60.16, 24.96, 60.17)


def main(url: str) -> None:
    minx, miny, maxx, maxy = BOX
    mx, my = (minx + maxx) / 2, (miny + maxy) / 2
    boxes = [
        shapely.box(minx, my, mx, maxy),
        shapely.box(mx, my, maxx, maxy),
        shapely.box(minx, miny, mx, my),
        shapely.box(mx, miny, maxx, my),
    ]
    parent = "091001001001"
    grids = gpd.GeoDataFrame(
        {
            "version": 1,
            "code": [f"{parent}{i:03d}" for i in range(1, 5)],
            "name": [f"Q{i}" for i in range(1, 5)],
            "level": "grid",
            "parent_code": parent,
        },
        geometry=boxes,
        crs=4326,
    )
    community = gpd.GeoDataFrame(
        {
            "code": [parent],
            "name": ["Kamppi"],
            "level": ["community"],
            "parent_code": ["091001001"],
        },
        geometry=[shapely.box(*BOX)],
        crs=4326,
    )
    incidents = pd.DataFrame(
        {
            "incident_id": [f"F-{i}" for i in range(8)],
            "reported_at": "2026-11-20T21:00:00+02:00",
            "category": "public_order",
            "description": "fuzz",
            "lon": [minx + 0.003 * (i + 1) for i in range(8)],
            "lat": [miny + 0.001 * (i + 1) for i in range(8)],
        }
    )
    with open_store(url) as store:
        store.write({"areas": community, "grids": grids})
        store.set_setting("bounds", list(BOX))
        store.set_setting("metric_crs", "EPSG:3067")
        ingest_incidents(store, incidents)
        token, _ = create_api_token(store, role="admin", name="schemathesis", actor="ci")
    print(token)


if __name__ == "__main__":
    main(sys.argv[1])
