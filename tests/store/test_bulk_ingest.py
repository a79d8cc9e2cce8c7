"""Large imports: the chunked path (fresh-store shortcut, COPY, deferred index, hashed
ids) stores exactly what one small batch stores, and every validation still applies."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridpatrol.geo.crs import wgs84_to_gcj02
from gridpatrol.geo.incidents import ZONED_TIME_PATTERN, zoned_times
from gridpatrol.services import incidents as inc
from gridpatrol.services.file_imports import import_file
from gridpatrol.services.incident_files import _csv_chunks
from gridpatrol.store.base import open_store
from tests.conftest import quadrant_grids

BOUNDS = (24.92, 60.16, 24.96, 60.18)
NOW = pd.Timestamp("2026-11-20T12:00:00Z")
CATEGORIES = np.array(["fire", "sanitation", "矛盾纠纷", "Fire", "other"], dtype=object)


def setup_project(store):
    areas = gpd.GeoDataFrame(
        {"code": ["091001001001"], "level": ["community"], "parent_code": ["091001001"]},
        geometry=[shapely.box(*BOUNDS)],
        crs=4326,
    )
    store.write({"grids": quadrant_grids(BOUNDS), "areas": areas})
    store.set_setting("bounds", list(BOUNDS))
    store.set_setting("timezone", "Europe/Helsinki")
    return store


def many_rows(n, *, seed=3, prefix="m"):
    """Valid reports with some bad ones: unknown category, (0, 0), a naive time."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(24.915, 24.965, n)  # some just outside the grids: snapped/unassigned
    lat = rng.uniform(60.158, 60.182, n)
    df = pd.DataFrame(
        {
            "incident_id": [f"{prefix}{i:05d}" for i in range(n)],
            "reported_at": "2026-11-20T09:00:00+02:00",
            "category": CATEGORIES[rng.integers(0, len(CATEGORIES), n)],
            "lon": lon,
            "lat": lat,
            "crs": "wgs84",
            "description": "",
        }
    )
    gcj = np.arange(n) % 7 == 0  # GCJ-02 coordinates, as from AMap
    glon, glat = wgs84_to_gcj02(lon[gcj], lat[gcj])
    df.loc[gcj, "lon"], df.loc[gcj, "lat"], df.loc[gcj, "crs"] = glon, glat, "gcj02"
    df.loc[np.arange(n) % 97 == 5, "category"] = "no such thing"
    df.loc[np.arange(n) % 101 == 7, ["lon", "lat"]] = 0.0
    df.loc[np.arange(n) % 53 == 3, "reported_at"] = "2026-11-20 09:30"
    return df


def stored(store):
    incidents = store.read("incidents").sort_values("incident_id").reset_index(drop=True)
    events = store.read("incident_events").sort_values(["incident_id", "seq"])
    return incidents, events.drop(columns="at").reset_index(drop=True)


def test_chunked_import_stores_what_one_batch_stores(store_url, tmp_path):
    """Chunks of 1,200 rows (COPY on PostGIS, the deferred index on SQLite) against one
    batch through the row-checked path into a store that is not empty."""
    rows = many_rows(3000)
    with open_store(store_url) as big:
        setup_project(big)
        chunks = [rows.iloc[i : i + 1200] for i in range(0, len(rows), 1200)]
        res = inc.ingest_incident_chunks(big, chunks, partial=True, now=NOW, keep_ids=False)
        got = stored(big)
    with open_store(f"sqlite:///{tmp_path / 'reference.db'}") as ref:
        setup_project(ref)
        # A store that already has an incident takes the general path (reads ids back).
        inc.ingest_incidents(ref, many_rows(1, prefix="other"), now=NOW)
        want_res = inc.ingest_incidents(ref, rows, partial=True, now=NOW, actor="import")
        want = stored(ref)
    assert res.created == [] and res.counts() == {
        **want_res.counts(),
        "created": len(want_res.created),
    }
    assert res.counts()["created"] > 2800 and res.counts()["snapped"] > 0
    assert res.counts()["unassigned"] > 0
    assert [r["row"] for r in res.rejected] == [r["row"] for r in want_res.rejected]
    assert [r["reason"] for r in res.rejected] == [r["reason"] for r in want_res.rejected]
    incidents, events = got
    ref_incidents = want[0][want[0]["incident_id"] != "other00000"].reset_index(drop=True)
    ref_events = want[1][want[1]["incident_id"] != "other00000"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        incidents.drop(columns="geometry"), ref_incidents.drop(columns="geometry")
    )
    assert incidents.geometry.geom_equals_exact(ref_incidents.geometry, 1e-9).all()
    pd.testing.assert_frame_equal(events, ref_events)


def test_chunked_import_into_a_store_with_incidents(store, tmp_path):
    """Not fresh: ids stored before update or stay; an id repeated across chunks is
    rejected (the first stays), with rows numbered from the start of the batch."""
    again = many_rows(50)
    again.loc[again.index[:10], "description"] = "seen again"
    batch = pd.concat([again, many_rows(30, prefix="n")], ignore_index=True)
    batch.loc[75, "incident_id"] = "n00002"  # repeats row 52, in the first chunk
    answers = []
    for target, chunked in ((store, True), (None, False)):
        with open_store(f"sqlite:///{tmp_path / 'ref.db'}") if target is None else store as s:
            setup_project(s)
            inc.ingest_incidents(s, many_rows(50), partial=True, now=NOW)
            if chunked:
                chunks = [batch.iloc[:60], batch.iloc[60:]]
                res = inc.ingest_incident_chunks(s, chunks, partial=True, now=NOW, keep_ids=False)
            else:  # one batch without the repeat: what the chunks must have done
                res = inc.ingest_incidents(
                    s, batch.drop(index=75), partial=True, now=NOW, actor="import"
                )
            answers.append((res, stored(s)))
    (res, got), (want_res, want) = answers
    want_counts = want_res.counts()
    assert res.counts() == {**want_counts, "rejected": want_counts["rejected"] + 1}
    assert res.counts()["updated"] > 0 and res.counts()["unchanged"] > 0
    repeated = [r for r in res.rejected if r["row"] == 75]
    assert repeated and "appears twice" in repeated[0]["reason"]
    pd.testing.assert_frame_equal(
        got[0].drop(columns=["geometry"]), want[0].drop(columns=["geometry"])
    )
    pd.testing.assert_frame_equal(got[1], want[1])


def test_a_bad_chunk_lists_every_bad_row_and_stores_nothing(store):
    setup_project(store)
    rows = many_rows(400)
    rows.loc[350, "incident_id"] = rows.loc[10, "incident_id"]  # across chunks
    chunks = [rows.iloc[i : i + 100] for i in range(0, 400, 100)]
    with pytest.raises(inc.BatchRejected) as err:
        inc.ingest_incident_chunks(store, chunks, now=NOW)
    bad = err.value.rejected
    assert 350 in set(bad["row"]) and (bad["row"] >= 300).any()
    assert store.count("incidents") == 0 and store.count("incident_events") == 0


def test_seen_ids_find_repeats_and_survive_equal_first_hashes(monkeypatch):
    seen = inc.SeenIds()
    seen.add(pd.Series(["a", "b", None]))
    assert list(seen.contains(pd.Series(["b", "c", None, "a"]))) == [True, False, False, True]
    assert len(seen) == 2

    real = inc.SeenIds._hash

    def first_hash_collides(ids):
        h1, h2 = real(ids)
        return np.zeros_like(h1), h2

    monkeypatch.setattr(inc.SeenIds, "_hash", staticmethod(first_hash_collides))
    seen = inc.SeenIds()
    seen.add(["x", "y", "z"])
    assert list(seen.contains(["z", "w", "x"])) == [True, False, True]


def test_csv_chunks_read_like_pandas(tmp_path):
    text = (
        "\ufeffincident_id,reported_at,category,lon,lat\n"
        '1,2026-11-20T09:00:00+02:00,"fire, big",24.93,60.17\n'
        "2,,,24.94,60.17\n"
    )
    good = tmp_path / "good.csv"
    good.write_text(text, encoding="utf-8")
    ragged = tmp_path / "ragged.csv"  # pandas pads the short row; Arrow refuses it
    ragged.write_text(text + "3,2026-11-20T09:00:00+02:00,fire,24.95\n", encoding="utf-8")
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("a,a,b\n1,2,3\n", encoding="utf-8")
    late = tmp_path / "late.csv"  # the bad row after several blocks: Arrow then pandas
    body = "".join(f"{i},2026-11-20T09:00:00+02:00,fire,24.93,60.17\n" for i in range(3000))
    late.write_text("incident_id,reported_at,category,lon,lat\n" + body + "x,y\n")
    for path in (good, ragged, repeated, late):
        want = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        parts = list(_csv_chunks(path, 500))
        got = pd.concat(parts, ignore_index=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert len(list(_csv_chunks(late, 500))) > 2


def test_import_file_counts_match_the_rows(store, tmp_path):
    setup_project(store)
    rows = many_rows(700)
    path = tmp_path / "incidents.csv"
    rows.drop(columns="crs").to_csv(path, index=False)  # every row read as WGS84 here
    out = import_file(store, "incidents", path, partial=True)
    assert out["written"]["created"] == store.count("incidents")
    assert out["written"]["created"] + out["written"]["rejected"] == 700
    assert any("without a time zone" in n for n in out["notes"])


def test_zoned_times_match_the_pattern():
    values = pd.Series(
        ["2026-11-20T09:00:00+02:00", "2026-11-20 09:00", "2020-12-12", "09:00Z", None, "x"]
    )
    want = values.fillna("").str.contains(ZONED_TIME_PATTERN, regex=True).to_numpy().copy()
    want[4] = True
    assert list(zoned_times(values, missing=True)) == list(want)


def test_bulk_load_keeps_the_point_index(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'p.db'}") as s:
        setup_project(s)
        with pytest.raises(RuntimeError), s.transaction(), s.bulk_load("incidents"):
            raise RuntimeError("rolled back")
        with s.transaction(), s.bulk_load("incidents"):
            pass
        names = {r[0] for r in s._con.execute("SELECT name FROM sqlite_master")}
        assert "incidents_xy" in names
