"""Pages and reports cached per data revision: ETag/304, and new data means a new page."""

import geopandas as gpd
import pytest
import shapely

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids
from tests.tokens import client_as

BOUNDS = (24.92, 60.16, 24.96, 60.18)


def report(i: int, lon: float = 24.93, lat: float = 60.165) -> dict:
    return {
        "incident_id": f"c{i}",
        "reported_at": "2026-11-20T09:00:00+02:00",
        "category": "fire",
        "location": {"lon": lon, "lat": lat},
    }


@pytest.fixture(params=[0, 1], ids=["in-threads", "helper-processes"])
def client(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    with open_store(url) as s:
        s.write(
            {
                "grids": quadrant_grids(BOUNDS),
                "areas": gpd.GeoDataFrame(
                    {"code": ["091001001001"], "level": ["community"], "parent_code": [""]},
                    geometry=[shapely.box(*BOUNDS)],
                    crs=4326,
                ),
            }
        )
        s.set_setting("bounds", list(BOUNDS))
    settings = Settings(database_url=url, escalation_interval_s=0, cpu_processes=request.param)
    with client_as(create_app(settings)) as c:
        yield c


def test_grids_page_answers_304_until_an_incident_changes_it(client):
    first = client.get("/maps/grids?measure=incidents")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and "no-cache" in first.headers["cache-control"]
    again = client.get("/maps/grids?measure=incidents", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    # Another measure or language is another page.
    other = client.get("/maps/grids?measure=households", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag

    posted = client.post("/api/incidents", json=report(1))
    assert posted.status_code == 200 and posted.json()["created"] == ["c1"]
    after = client.get("/maps/grids?measure=incidents", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag


@pytest.mark.parametrize("path", ["/maps/grids", "/", "/maps/cameras", "/maps/incidents"])
def test_pages_redrawn_after_a_grid_edit(client, path):
    etag = client.get(path).headers["etag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    with open_store(client.app.state.settings.database_url) as s:
        grids = s.read("grids")
        s.write({"grids": grids.assign(name="renamed")}, mode="upsert")
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    if path == "/maps/grids":
        assert "renamed" in changed.text


def test_reports_posted_together_are_each_answered_and_stored(client):
    """The group commit through the helper process: every report is acknowledged and
    stored, a bad one is refused alone."""
    import concurrent.futures

    bodies = [report(i, lon=24.921 + i * 0.001) for i in range(20)]
    bodies[7]["category"] = "ghosts"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: client.post("/api/incidents", json=b), bodies))
    created = [a.json()["created"] for a in answers if a.status_code == 200]
    assert sorted(c for ids in created for c in ids) == sorted(
        b["incident_id"] for i, b in enumerate(bodies) if i != 7
    )
    assert answers[7].status_code == 422 and "ghosts" in answers[7].text
    with open_store(client.app.state.settings.database_url) as s:
        assert s.count("incidents") == 19
        # every successful post is in the audit log (written by the same helper process)
        assert len(s.read("audit_log", where={"action": "POST /api/incidents"})) == 19
