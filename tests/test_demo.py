"""The demo project end to end: real Helsinki data, grids, and a four-team patrol plan."""

import gpxpy
import pytest

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.demo import build_demo
from gridpatrol.store.base import open_store
from tests.tokens import client_as  # noqa: E402


@pytest.mark.slow
def test_demo_plan_covers_every_walkable_street_with_balanced_routes(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with open_store(url) as store:
        written = build_demo(store, plan_seconds=5.0)
        plan_id = store.get_setting("demo_plan_id")
    assert written["cameras"] == 221 and written["grids"] >= 4
    with client_as(create_app(Settings(database_url=url, escalation_interval_s=0))) as c:
        plan = c.get(f"/api/patrols/{plan_id}").json()
        day = plan["summary"]["days"][0]
        assert day["coverage"] == 1.0  # every reachable walkable street is walked
        lengths = [f["properties"]["length_m"] for f in plan["routes"]["features"]]
        assert len(lengths) == 4 and max(lengths) / min(lengths) < 1.10
        for team in plan["summary"]["teams"]:
            gpx = gpxpy.parse(c.get(f"/api/patrols/{plan_id}/teams/{team}/route.gpx").text)
            assert gpx.tracks and len(gpx.tracks[0].segments[0].points) > 10
        assert c.get(f"/patrols/{plan_id}").status_code == 200


def test_demo_tokens_do_what_their_printed_line_says(tmp_path):
    from fastapi.testclient import TestClient

    from gridpatrol.demo import TOKEN_USES, demo_tokens
    from tests.conftest import quadrant_grids
    from tests.tokens import BASE_URL

    url = f"sqlite:///{tmp_path / 'd.db'}"
    box = (24.93, 60.16, 24.96, 60.17)
    with open_store(url) as store:
        store.write({"grids": quadrant_grids(box)})
        store.set_setting("bounds", list(box))
        tokens = demo_tokens(store)
    assert set(tokens) == set(TOKEN_USES) == {"admin", "viewer"}
    assert all(len(line) < 80 for line in TOKEN_USES.values())  # one short line each
    assert "no incident details" in TOKEN_USES["viewer"]
    app = create_app(Settings(database_url=url, escalation_interval_s=0))
    for role, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(app, base_url=BASE_URL, headers=headers) as c:
            # maps and aggregates for both
            assert c.get("/maps/grids").status_code == 200
            assert c.get("/api/incidents/figures").status_code == 200
            # incident details for the admin only
            assert c.get("/api/incidents").status_code == (200 if role == "admin" else 403)
