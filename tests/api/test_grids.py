"""Grid versions through the API on the real Helsinki demo project."""

import json

import pyogrio
import pytest

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.demo import COMMUNITY_CODE, build_demo
from gridpatrol.store.base import open_store
from tests.tokens import client_as  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('grids') / 'demo.db'}"
    with open_store(url) as s:
        build_demo(s)
    with client_as(create_app(Settings(database_url=url, escalation_interval_s=0))) as c:
        yield c


def test_demo_proposal_passes_its_own_validation(client):
    versions = client.get("/api/grids/versions").json()
    assert versions[0]["status"] == "active" and versions[0]["grids"] > 3
    report = client.get("/api/grids/versions/1/report").json()
    s = report["summary"]
    assert s["problems_by_kind"].get("split_building", 0) == 0
    assert s["gap_area_m2"] < 1.0 and s["overlap_area_m2"] < 1.0
    assert s["problems_by_kind"].get("noncontiguous", 0) == 0
    assert s["share_in_band"] >= 0.9
    assert {"polsby_popper", "street_share", "tour_minutes", "households"} <= set(
        report["metrics"][0]
    )


def test_propose_and_save_as_draft(client):
    r = client.post(
        "/api/grids/versions/propose",
        json={"community_codes": [COMMUNITY_CODE], "alternatives": 2, "seed": 3, "save": True},
    )
    assert r.status_code == 200, r.text
    proposals = r.json()["proposals"]
    assert len(proposals) == 2 and proposals[0]["version"] is not None
    assert proposals[0]["metrics"]["split_buildings"] == 0
    codes = [f["properties"]["code"] for f in proposals[0]["grids"]["features"]]
    assert codes == sorted(codes) and all(c.startswith(COMMUNITY_CODE) for c in codes)


def test_concurrent_saves_conflict(client):
    v = client.post("/api/grids/versions", json={"copy_of": 1, "name": "edit"}).json()["version"]
    got = client.get(f"/api/grids/versions/{v}")
    etag = got.headers["etag"]
    body = {"type": "FeatureCollection", "features": got.json()["features"]}
    first = client.put(f"/api/grids/versions/{v}", json=body, headers={"If-Match": etag})
    assert first.status_code == 200
    second = client.put(f"/api/grids/versions/{v}", json=body, headers={"If-Match": etag})
    assert second.status_code == 409 and "someone else" in second.json()["detail"]
    assert client.put(f"/api/grids/versions/{v}", json=body).status_code == 422  # no If-Match


def test_diff_and_activation(client):
    v = client.post(
        "/api/grids/versions/propose",
        json={"community_codes": [COMMUNITY_CODE], "seed": 11, "band": [200, 400], "save": True},
    ).json()["proposals"][0]["version"]
    d = client.get(f"/api/grids/versions/1/diff/{v}").json()
    assert d["summary"]["buildings_moved"] > 0 and d["buildings_moved"][0]["from_code"]
    report = client.get(f"/api/grids/versions/{v}/report?walk_tours=false").json()
    r = client.post(f"/api/grids/versions/{v}/activate")
    if report["problems"]["features"]:  # problems need an explicit confirmation that lists them
        assert r.status_code == 409
        assert len(r.json()["problems"]) == len(report["problems"]["features"])
        assert client.get("/api/grids").json()["features"][0]["properties"]["version"] == 1
        r = client.post(f"/api/grids/versions/{v}/activate?confirm=true")
    assert r.status_code == 200
    assert client.get("/api/grids").json()["features"][0]["properties"]["version"] == v


def test_geopackage_round_trip(client, tmp_path):
    r = client.get("/api/grids/versions/1/export.gpkg")
    assert r.status_code == 200
    path = tmp_path / "grids.gpkg"
    path.write_bytes(r.content)
    layers = dict(pyogrio.list_layers(path))
    assert "grids" in layers
    info = pyogrio.read_info(path, layer="grids")
    assert {"polsby_popper", "households", "tour_minutes", "street_share"} <= set(info["fields"])
    back = client.post("/api/grids/versions/import", files={"file": ("edited.gpkg", r.content)})
    assert back.status_code == 201, back.text
    assert back.json()["report"]["summary"]["n_grids"] == info["features"]


def test_draft_report_without_saving(client):
    got = client.get("/api/grids/versions/1").json()
    body = {"type": "FeatureCollection", "features": got["features"][1:]}
    r = client.post("/api/grids/versions/report", json=body).json()
    assert r["summary"]["problems_by_kind"]["gap"] >= 1
    gap = next(f for f in r["problems"]["features"] if f["properties"]["kind"] == "gap")
    assert gap["geometry"]["type"] in ("Polygon", "MultiPolygon")
    json.dumps(r)


def test_compare_and_align_with_police_beats(client):
    # Police beats: a coarser layer drawn by another office (a proposal with a bigger band).
    beats = client.post(
        "/api/grids/versions/propose",
        json={
            "community_codes": [COMMUNITY_CODE],
            "seed": 5,
            "band": [800, 1400],
            "save": True,
            "name": "police beats",
        },
    ).json()["proposals"][0]["version"]
    active = next(
        v["version"] for v in client.get("/api/grids/versions").json() if v["status"] == "active"
    )
    c = client.get(f"/api/grids/versions/{active}/compare/{beats}").json()
    assert c["summary"]["n_pieces"] > 0 and c["pieces"]["features"]
    assert 0 < c["summary"]["aligned_share"] < 1
    r = client.post(f"/api/grids/versions/{active}/align/{beats}")
    assert r.status_code == 201, r.text
    v = r.json()["version"]
    again = client.get(f"/api/grids/versions/{v}/compare/{beats}").json()
    assert again["summary"]["aligned_share"] > 0.99
    s = r.json()["report"]["summary"]
    assert s["gap_area_m2"] < 1 and s["overlap_area_m2"] < 1


def test_report_is_cached_per_revision_and_revalidates_with_its_etag(tmp_path):
    """A second request is served from the cache (same ETag, 304 when revalidated);
    a new incident or an edit of the version's grids changes the very next report."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    from gridpatrol.api.routers.grids import REPORT_CACHE
    from gridpatrol.services.incidents import ingest_incidents
    from tests.conftest import quadrant_grids

    box = (24.92, 60.16, 24.96, 60.18)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with open_store(url) as s:
        from gridpatrol.services.grid_versions import create_draft

        assert create_draft(s, quadrant_grids(box)) == 1
        s.write(
            {
                "areas": gpd.GeoDataFrame(
                    {"code": ["091001001001"], "level": ["community"], "parent_code": ["0910"]},
                    geometry=[shapely.box(*box)],
                    crs=4326,
                ),
            }
        )
        s.set_setting("bounds", list(box))

    def incident(i, lon):
        return pd.DataFrame(
            [
                {
                    "incident_id": f"i{i}",
                    "reported_at": "2026-11-20T09:00:00+02:00",
                    "category": "fire",
                    "lon": lon,
                    "lat": 60.165,
                }
            ]
        )

    with open_store(url) as s:
        ingest_incidents(s, incident(1, 24.925), now=pd.Timestamp("2026-11-21", tz="UTC"))
    app = create_app(Settings(database_url=url, escalation_interval_s=0))
    path = "/api/grids/versions/1/report?walk_tours=false"
    with client_as(app) as c:

        def counts(r):
            return {m["code"]: m["incidents"] for m in r.json()["metrics"]}

        first = c.get(path)
        assert first.status_code == 200, first.text
        assert sum(counts(first).values()) == 1
        hits = REPORT_CACHE.hits
        again = c.get(path)
        assert REPORT_CACHE.hits == hits + 1
        assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
        assert c.get(path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304

        with open_store(url) as s:
            ingest_incidents(s, incident(2, 24.955), now=pd.Timestamp("2026-11-21", tz="UTC"))
        second = c.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert second.status_code == 200  # a new incident: the old ETag is stale
        assert sum(counts(second).values()) == 2

        with open_store(url) as s:
            s.delete("grids", where={"code": "091001001001004"})
        third = c.get(path)
        assert "091001001001004" not in counts(third)
        assert third.headers["etag"] not in (first.headers["etag"], second.headers["etag"])
