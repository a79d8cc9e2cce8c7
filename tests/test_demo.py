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
