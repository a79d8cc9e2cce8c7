"""POST /api/imports/{layer}: the CLI's imports over HTTP, same services, same rules."""

import io
import json
import zipfile

import pandas as pd
import pytest

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.store.base import open_store
from tests.tokens import client_as

X0, Y0, STEP = 116.30, 39.90, 0.01


def _grids_geojson(codes=("D1", "D2")) -> bytes:
    feats = []
    for i, code in enumerate(codes):
        x = X0 + i * STEP
        ring = [[x, Y0], [x + STEP, Y0], [x + STEP, Y0 + STEP], [x, Y0 + STEP], [x, Y0]]
        feats.append(
            {
                "type": "Feature",
                "properties": {"DIST": code, "LABEL": f"District {code}"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": feats}).encode()


@pytest.fixture()
def app(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with open_store(url):
        pass
    return create_app(Settings(database_url=url, escalation_interval_s=0))


@pytest.fixture()
def admin(app):
    with client_as(app, "admin") as c:
        yield c


def _grids(client, data=None, **form):
    files = {"file": ("grids.geojson", data or _grids_geojson(), "application/geo+json")}
    return client.post("/api/imports/grids", files=files, data={"code": "DIST", **form})


def _store(app):
    return open_store(app.state.settings.database_url)


def test_grids_with_a_named_code_column(admin, app):
    r = _grids(admin, name="LABEL")
    assert r.status_code == 201, r.text
    assert r.json()["written"]["grids"] == 2
    with _store(app) as s:
        grids = s.read("grids")
    assert sorted(grids["code"]) == ["D1", "D2"]
    assert sorted(grids["name"]) == ["District D1", "District D2"]


def test_incident_csv_custom_columns_project_zone_and_composite_id(admin, app):
    assert _grids(admin).status_code == 201
    assert admin.put("/api/project", json={"timezone": "Asia/Shanghai"}).status_code == 200
    csv = (
        "case_no,kind,x,y,when,note\n"
        f"7,dispute,{X0 + 0.005},{Y0 + 0.005},2026-03-01 08:00:00,a\n"
        f"7,fire,{X0 + 0.015},{Y0 + 0.005},2026-03-01 09:30:00,b\n"
    ).encode()
    r = admin.post(
        "/api/imports/incidents",
        files={"file": ("cases.csv", csv, "text/csv")},
        data={
            "lon": "x",
            "lat": "y",
            "time": "when",
            "category": "kind",
            "id": "case_no,kind",
            "field": ["description=note"],
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["written"]["created"] == 2  # one case number, two categories: two ids
    assert any(
        "2 time(s) without a time zone were read in Asia/Shanghai" in n for n in body["notes"]
    )
    with _store(app) as s:
        inc = s.read("incidents")
    assert inc["incident_id"].nunique() == 2
    first = inc.sort_values("reported_at").iloc[0]
    assert pd.Timestamp(first["reported_at"]) == pd.Timestamp("2026-03-01 00:00:00", tz="UTC")
    assert first["description"] == "a"


def test_a_vrt_and_a_zip_holding_one_are_refused(admin, app):
    vrt = b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>'
    r = admin.post("/api/imports/grids", files={"file": ("g.vrt", vrt)}, data={"code": "DIST"})
    assert r.status_code == 422 and "VRT" in r.json()["detail"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("grids.geojson", _grids_geojson())
        z.writestr("other.vrt", vrt)
    r = admin.post(
        "/api/imports/buildings", files={"file": ("g.zip", buf.getvalue())}, data={"id": "@row"}
    )
    assert r.status_code == 422 and "other.vrt" in r.json()["detail"]
    with _store(app) as s:
        assert s.count("grids") == 0 and s.count("buildings") == 0


def test_roles(app):
    with client_as(app, "viewer") as viewer:
        assert _grids(viewer).status_code == 403
    with client_as(app, "planner") as planner:
        csv = b"incident_id,lon,lat,reported_at,category\n1,116.3,39.9,2026-01-01T00:00Z,dispute\n"
        r = planner.post("/api/imports/incidents", files={"file": ("i.csv", csv)})
        assert r.status_code == 403
    with client_as(app, "dispatcher") as dispatcher:
        assert _grids(dispatcher).status_code == 403


def test_a_bad_file_is_422_and_stores_nothing(admin, app):
    assert _grids(admin).status_code == 201
    with _store(app) as s:
        before = s.read("grids")
    # a second version whose second feature has no code: nothing of it lands
    feats = json.loads(_grids_geojson(("D3", "D4")))
    feats["features"][1]["properties"]["DIST"] = None
    r = _grids(admin, data=json.dumps(feats).encode(), version="2")
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    csv = (
        b"incident_id,lon,lat,reported_at,category\n"
        b"1,116.305,39.905,2026-01-01T00:00Z,dispute\n"
        b"2,116.305,39.905,not a time,dispute\n"
    )
    r = admin.post("/api/imports/incidents", files={"file": ("i.csv", csv)})
    assert r.status_code == 422
    assert [x["incident_id"] for x in r.json()["rejected"]] == ["2"]
    with _store(app) as s:
        after = s.read("grids")
        assert s.count("incidents") == 0
        assert s.count("grid_versions") == 1
    assert sorted(after["code"]) == sorted(before["code"])
    assert len(after) == len(before)


def test_uploads_get_the_upload_limit(app):
    from gridpatrol.api.security import body_limit

    s = Settings(max_upload_mb=50, max_body_mb=2)
    assert body_limit("POST", "/api/imports/grids", s) == 50_000_000
    assert body_limit("POST", "/api/imports/incidents", s) == 50_000_000
