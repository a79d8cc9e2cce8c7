"""Who may do what: roles, tokens from the CLI, login sessions, private incidents, audit."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from gridpatrol.api.main import create_app
from gridpatrol.api.settings import Settings
from gridpatrol.cli import app as cli
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids
from tests.tokens import client_as

BOX = (24.93, 60.16, 24.96, 60.17)
SECRET = "call 040-1234567 about the neighbour dispute"
ROLES = ("admin", "planner", "dispatcher", "patrol", "viewer")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "p.db"
    url = f"sqlite:///{path}"
    with open_store(url) as s:
        s.write({"grids": quadrant_grids(BOX)})
        s.set_setting("bounds", list(BOX))
    app = create_app(Settings(database_url=url, escalation_interval_s=0))
    with client_as(app, "dispatcher") as c:
        r = c.post(
            "/api/incidents",
            json={
                "incident_id": "P-1",
                "reported_at": "2026-11-20T21:00:00+02:00",
                "category": "public_order",
                "description": SECRET,
                "address": "Mannerheimintie 1",
                "location": {"lon": 24.9412345, "lat": 60.1654321},
            },
        )
        assert r.status_code == 200, r.text
    return {"url": url, "path": path, "app": app}


def _cli_token(url: str, role: str, *extra: str) -> str:
    r = CliRunner().invoke(cli, ["token", "create", "--role", role, "--db", url, *extra])
    assert r.exit_code == 0, r.output
    return r.stdout.strip().splitlines()[-1]


def test_cli_token_works_on_a_running_server(project):
    app = project["app"]  # made before the token
    token = _cli_token(project["url"], "dispatcher", "--name", "Li Wei")
    assert len(token) >= 4 + 43  # prefix + 32 random bytes in base64url
    with client_as(app, None, headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.post("/api/incidents/escalate")
        assert r.status_code == 200, r.text


def test_only_hashes_are_stored(project):
    token = _cli_token(project["url"], "viewer")
    dump = "\n".join(sqlite3.connect(project["path"]).iterdump())
    assert token not in dump and token[4:] not in dump


def test_unknown_role_is_refused_by_the_cli(project):
    r = CliRunner().invoke(cli, ["token", "create", "--role", "root", "--db", project["url"]])
    assert r.exit_code != 0 and "admin, planner" in r.output


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"),
    [
        ("post", "/api/incidents/escalate", None, {"admin", "dispatcher"}),
        ("post", "/api/grids/versions", {"name": "x"}, {"admin", "planner"}),
        (
            "post",
            "/api/embed/tokens",
            {"label": "x", "layers": ["grids"], "area": list(BOX)},
            {"admin"},
        ),
        ("post", "/api/auth/tokens", {"role": "viewer"}, {"admin"}),
        (
            "post",
            "/api/incidents/P-1/actions",
            {"action": "comment", "actor": "x", "note": "n"},
            {"admin", "dispatcher", "patrol"},
        ),
    ],
)
def test_every_write_needs_the_right_role(project, method, path, body, allowed):
    app = project["app"]
    kw = {} if body is None else {"json": body}
    with client_as(app, None) as anonymous:
        r = getattr(anonymous, method)(path, **kw)
        assert r.status_code == 401 and "Bearer" in r.headers["www-authenticate"]
    for role in ROLES:
        with client_as(app, role) as c:
            r = getattr(c, method)(path, **kw)
        if role in allowed:  # past the access check (a draft without grids is a 422)
            assert r.status_code not in (401, 403), (role, r.text)
        else:
            assert r.status_code == 403 and role in r.json()["detail"], (role, r.text)


def test_a_revoked_token_is_refused(project):
    app = project["app"]
    with client_as(app, "admin") as admin:
        made = admin.post("/api/auth/tokens", json={"role": "dispatcher", "name": "temp"}).json()
        with client_as(app, None, headers={"Authorization": f"Bearer {made['token']}"}) as c:
            assert c.post("/api/incidents/escalate").status_code == 200
            assert admin.delete(f"/api/auth/tokens/{made['id']}").status_code == 200
            assert c.post("/api/incidents/escalate").status_code == 401
        listed = {t["id"]: t for t in admin.get("/api/auth/tokens").json()}
        assert listed[made["id"]]["revoked_at"] and "token" not in listed[made["id"]]


def _no_details(text: str) -> None:
    assert SECRET not in text and "Mannerheimintie" not in text
    assert "24.9412345" not in text and "60.1654321" not in text


def test_viewers_and_anonymous_see_no_incident_details(project):
    app = project["app"]
    for role in (None, "viewer"):
        with client_as(app, role) as c:
            for path in (
                "/api/incidents",
                "/api/incidents/P-1",
                "/api/incidents/P-1/history",
                "/maps/incidents",
            ):
                r = c.get(path)
                assert r.status_code == (401 if role is None else 403), (role, path)
                _no_details(r.text)
            for path in (
                "/api/incidents/figures",
                "/api/incidents/hotspots?permutations=99",
                "/maps/grids?measure=incidents",
                "/",
                "/api/layers",
            ):
                r = c.get(path)
                assert r.status_code == 200, (role, path, r.text)
                _no_details(r.text)
            assert c.get("/tiles/incidents/14/9326/4743.pbf").status_code == 404
    with client_as(app, "dispatcher") as c:
        assert SECRET in c.get("/api/incidents/P-1").text


def test_browser_login_sets_a_strict_session_cookie(project):
    app = project["app"]
    token = _cli_token(project["url"], "dispatcher")
    with client_as(app, None) as browser:
        assert browser.get("/maps/incidents").status_code == 401
        bad = browser.post("/login", data={"token": "gpt_wrong"})
        assert bad.status_code == 401 and "not known" in bad.text
        r = browser.post(
            "/login",
            data={"token": token, "next": "//evil.example/"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and token not in cookie
        page = browser.get("/maps/incidents")
        assert page.status_code == 200 and "&#36;" not in page.text[:0]
        browser.post("/logout")
        assert browser.get("/maps/incidents").status_code == 401


def test_small_counts_are_hidden_from_viewers_and_anonymous(project):
    app = project["app"]
    for role in (None, "viewer"):
        with client_as(app, role) as c:
            rows = c.get("/api/incidents/figures").json()
            hit = [r for r in rows if r["suppressed"]]
            assert hit and all(r["incidents"] is None and r["closed"] is None for r in hit)
            spots = c.get("/api/incidents/hotspots?permutations=99").json()["features"]
            small = [f["properties"] for f in spots if f["properties"]["suppressed"]]
            assert small and all("count" not in p or p["count"] is None for p in small)
            page = c.get("/maps/grids?measure=incidents").text
            assert "lt;5" in page  # "<5", escaped as every text on the page
    with client_as(app, "dispatcher") as c:
        rows = c.get("/api/incidents/figures").json()
        assert not any(r["suppressed"] for r in rows)
        assert sum(r["incidents"] for r in rows) >= 1


def test_a_browser_without_a_session_is_sent_to_log_in(project):
    with client_as(project["app"], None) as browser:
        r = browser.get(
            "/maps/incidents?lang=zh", headers={"Accept": "text/html"}, follow_redirects=False
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Fmaps%2Fincidents%3Flang%3Dzh"
        # a script (no text/html) still gets the 401 that says what to send
        assert browser.get("/maps/incidents").status_code == 401


def test_history_names_the_token_that_acted_not_the_name_claimed(project):
    app = project["app"]
    with client_as(app, "dispatcher") as c:
        r = c.post("/api/incidents/P-1/actions", json={"action": "comment", "actor": "anna"})
        assert r.status_code == 200, r.text
        last = c.get("/api/incidents/P-1/history").json()[-1]
    assert last["actor"].startswith("test dispatcher (") and last["actor"].endswith(" for anna")


def test_patrol_tokens_see_only_their_team(project):
    app = project["app"]
    token = _cli_token(project["url"], "patrol", "--team", "T1")
    with client_as(app, None, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get("/patrols/any/teams/T2").status_code == 403
        assert c.get("/patrols/any/teams/T1").status_code == 404  # allowed; no such plan


def test_audit_log_names_who_changed_what(project):
    app = project["app"]
    with client_as(app, "dispatcher") as c:
        assert (
            c.post(
                "/api/incidents/P-1/actions",
                json={"action": "comment", "actor": "d", "note": "seen"},
            ).status_code
            == 200
        )
    with client_as(app, "admin") as admin:
        log = admin.get("/api/audit", params={"limit": 50}).json()
        entry = next(e for e in log if e["action"] == "POST /api/incidents/P-1/actions")
        assert entry["role"] == "dispatcher" and entry["actor"].startswith("test dispatcher (")
        assert entry["status"] == 200 and entry["at"].endswith("+00:00")
        assert any(e["action"] == "token create" for e in log)
        assert admin.get("/api/audit", params={"since": "2026-01-01T00:00:00"}).status_code == 422
    with client_as(app, "viewer") as viewer:
        assert viewer.get("/api/audit").status_code == 403


def test_openapi_and_health_stay_public(project):
    with client_as(project["app"], None) as c:
        assert c.get("/openapi.json").status_code == 200
        assert c.get("/health").status_code == 200
        spec = c.get("/openapi.json").json()
        assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_production_mode_refuses_to_start_without_an_admin_token(tmp_path):
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    with pytest.raises(RuntimeError, match="no admin token"):
        create_app(Settings(database_url=url, production=True))
    create_app(Settings(database_url=url))  # the default mode starts with nothing set
    _cli_token(url, "admin")
    create_app(Settings(database_url=url, production=True))


def test_a_one_time_login_link_opens_a_session_once(project):
    app = project["app"]
    with client_as(app, "dispatcher") as c:
        url = c.post("/api/auth/login-links", params={"next": "/maps/incidents"}).json()["url"]
    assert "gpt_" not in url and url.startswith("/login/link/gpl_")
    with client_as(app, None) as browser:
        r = browser.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/maps/incidents"
        assert "samesite=lax" in r.headers["set-cookie"].lower()
        assert browser.get("/maps/incidents").status_code == 200
    with client_as(app, None) as other:
        again = other.get(url, follow_redirects=False)
        assert again.status_code == 401 and "used already" in again.text
        # a link code is not a bearer token
        code = url.rsplit("/", 1)[1].split("?")[0]
        r = other.get("/api/incidents", headers={"Authorization": f"Bearer {code}"})
        assert r.status_code == 401


def test_tokens_sessions_and_audit_on_each_store(store):
    from gridpatrol.services import audit
    from gridpatrol.services import tokens as svc

    token, record = svc.create_api_token(
        store, role="patrol", name="T1 phone", scope={"teams": ["T1"]}
    )
    principal = svc.resolve_api_token(store, token)
    assert (principal.role, principal.scope, principal.token_id) == (
        "patrol",
        {"teams": ["T1"]},
        record["id"],
    )
    secret, _ = svc.open_session(store, token)
    assert svc.resolve_api_token(store, secret).kind == "session"
    code = svc.create_login_link(store, principal)
    with pytest.raises(svc.ApiTokenError):
        svc.resolve_api_token(store, code)  # a link is not a bearer token
    svc.open_session_from_link(store, code)
    with pytest.raises(svc.ApiTokenError, match="used already"):
        svc.open_session_from_link(store, code)
    svc.revoke_api_token(store, record["id"])
    for s in (token, secret):
        with pytest.raises(svc.ApiTokenError, match="revoked"):
            svc.resolve_api_token(store, s)
    actions = [e["action"] for e in audit.read_audit(store)]
    assert {"token create", "login", "login link", "token revoke"} <= set(actions)
    with pytest.raises(Exception, match="role"):
        svc.create_api_token(store, role="root")


def test_a_login_link_raced_by_two_browsers_lets_one_in(store_url):
    # Each thread has its own connection, so the two redemptions really overlap.
    from concurrent.futures import ThreadPoolExecutor

    from gridpatrol.services import tokens as svc
    from gridpatrol.store.base import open_store

    with open_store(store_url) as store:
        token, _ = svc.create_api_token(store, role="planner", name="race")
        code = svc.create_login_link(store, svc.resolve_api_token(store, token))

    def redeem(_):
        with open_store(store_url) as store:
            try:
                return svc.open_session_from_link(store, code)[0]
            except svc.ApiTokenError as exc:
                return exc.reason

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(redeem, range(4)))
    sessions = [g for g in got if g.startswith(svc.SESSION_PREFIX)]
    assert len(sessions) == 1, got
    assert sorted(g for g in got if g not in sessions) == ["revoked"] * 3
    with open_store(store_url) as store:
        opened = store.read("api_tokens", where={"kind": "session"})
        assert len(opened) == 1


# -- planners limited to some communities ---------------------------------------------------


@pytest.fixture
def scoped(tmp_path):
    """A fresh project (version 1: four grids under community 091001001001) and a client
    per planner token: one scoped to that community, one scoped to another."""
    url = f"sqlite:///{tmp_path / 'scoped.db'}"
    with open_store(url) as s:
        s.set_setting("bounds", list(BOX))
    app = create_app(Settings(database_url=url, escalation_interval_s=0))
    with client_as(app, "admin") as c:
        r = c.post("/api/grids/versions", json={"name": "v1", "grids": _grids_json()})
        assert r.status_code == 201 and r.json()["version"] == 1, r.text
    ours = _cli_token(url, "planner", "--community", "091001001001")
    theirs = _cli_token(url, "planner", "--street", "091001002")
    return {
        "url": url,
        "app": app,
        "ours": {"Authorization": f"Bearer {ours}"},
        "theirs": {"Authorization": f"Bearer {theirs}"},
    }


def _grids_json(parent: str = "091001001001") -> dict:
    return json.loads(quadrant_grids(BOX, parent=parent).drop(columns="version").to_json())


def test_a_scoped_planner_may_write_grids_under_their_community(scoped):
    with client_as(scoped["app"], None, headers=scoped["ours"]) as c:
        r = c.post("/api/grids/versions", json={"name": "mine", "grids": _grids_json()})
        assert r.status_code == 201, r.text
        new = r.json()["version"]
        r = c.post("/api/grids/versions", json={"name": "copy", "copy_of": 1})
        assert r.status_code == 201, r.text
        etag = c.get(f"/api/grids/versions/{new}").headers["ETag"]
        r = c.put(f"/api/grids/versions/{new}", json=_grids_json(), headers={"If-Match": etag})
        assert r.status_code == 200, r.text
        r = c.post(f"/api/grids/versions/{new}/activate", params={"confirm": True})
        assert r.status_code == 200, r.text
        upload = json.dumps(_grids_json()).encode()
        r = c.post("/api/grids/versions/import", files={"file": ("g.geojson", upload)})
        assert r.status_code == 201, r.text
        # A plan for an area under the community passes the scope check (it then fails
        # for want of streets and a station, which this small project lacks).
        r = c.post("/api/patrols", json={"station_id": "S1", "area_code": "091001001001001"})
        assert r.status_code != 403, r.text


def test_a_scoped_planner_may_not_write_outside_their_communities(scoped):
    with client_as(scoped["app"], None, headers=scoped["theirs"]) as c:
        before = c.get("/api/grids/versions").json()
        etag = c.get("/api/grids/versions/1").headers["ETag"]
        upload = json.dumps(_grids_json()).encode()
        refused = [
            c.post("/api/grids/versions", json={"name": "x", "grids": _grids_json()}),
            c.post("/api/grids/versions", json={"name": "x", "copy_of": 1}),
            c.put("/api/grids/versions/1", json=_grids_json(), headers={"If-Match": etag}),
            c.post("/api/grids/versions/1/activate", params={"confirm": True}),
            c.post("/api/grids/versions/1/align/1"),
            c.post("/api/grids/versions/import", files={"file": ("g.geojson", upload)}),
            c.post("/api/grids/versions/propose", json={"community_codes": ["091001001001"]}),
            c.post("/api/patrols", json={"station_id": "S1", "area_code": "091001001001001"}),
            c.post("/api/patrols", json={"station_id": "S1"}),  # the whole project
        ]
        for r in refused:
            assert r.status_code == 403, (r.request.url, r.text)
            assert "091001002" in r.json()["detail"], r.text  # names what is allowed
        assert "091001001001001" in refused[0].json()["detail"]  # and what was outside
        assert c.get("/api/grids/versions").json() == before  # nothing written
        # Grids of both communities at once: refused as a whole, naming the outsiders.
        mixed = _grids_json("091001002007")
        mixed["features"] += _grids_json()["features"]
        r = c.post("/api/grids/versions", json={"name": "mixed", "grids": mixed})
        assert r.status_code == 403 and "091001001001004" in r.json()["detail"]
        assert "091001002007001" not in r.json()["detail"]
        r = c.post(
            "/api/grids/versions", json={"name": "theirs", "grids": _grids_json("0910010020")}
        )
        assert r.status_code == 201, r.text  # their own community: allowed
    # Unscoped planners and admins are not limited.
    for role in ("planner", "admin"):
        with client_as(scoped["app"], role) as c:
            r = c.post("/api/grids/versions", json={"name": role, "copy_of": 1})
            assert r.status_code == 201, r.text


def test_scope_rule_matches_code_or_parent_prefix():
    from gridpatrol.geo.errors import OutOfScopeError
    from gridpatrol.services import access
    from gridpatrol.services.tokens import Principal

    who = Principal("t", "n", "planner", {"communities": ["0910"], "streets": ["0920"]})
    assert access.allowed_codes(who) == ("0910", "0920")
    grids = quadrant_grids(BOX, parent="0910")
    access.check_grids(who, grids, what="x")  # parent under the scope
    access.check_grids(who, grids.assign(parent_code=None, code="0920x"), what="x")  # code
    with pytest.raises(OutOfScopeError, match="0930001.*0910, 0920"):
        access.check_grids(who, quadrant_grids(BOX, parent="0930"), what="x")
    for other in (
        None,
        Principal("t", "n", "admin", {"communities": ["0910"]}),
        Principal("t", "n", "planner", {}),
    ):
        assert access.allowed_codes(other) is None
        access.check_grids(other, quadrant_grids(BOX, parent="0930"), what="x")
