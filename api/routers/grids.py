"""Grid versions: drafts, saves with conflict detection, activation, diffs, reports, export."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Header, Response, UploadFile

from gridpatrol.api.auth import PrincipalDep
from gridpatrol.api.cache import RevisionCache, etag_matches, revision_etag
from gridpatrol.api.deps import StoreDep
from gridpatrol.api.schemas import (
    DraftCreate,
    GridVersionOut,
    ProposalRequest,
    features_to_gdf,
    to_feature_collection,
)
from gridpatrol.geo.errors import SchemaError
from gridpatrol.services import access
from gridpatrol.services import grid_versions as gv

router = APIRouter(prefix="/api/grids/versions", tags=["grids"])


def _out(row) -> GridVersionOut:
    created = row["created_at"]
    return GridVersionOut(
        version=int(row["version"]),
        name=row["name"],
        status=row["status"],
        revision=int(row["revision"]),
        note=row["note"],
        grids=int(row.get("grids", 0)),
        created_at=None if created is None or created != created else created.isoformat(),
    )


@router.get("", response_model=list[GridVersionOut])
def list_versions(store: StoreDep) -> list[GridVersionOut]:
    """All versions with their status (draft, active, retired) and revision."""
    return [_out(r) for r in gv.list_versions(store).to_dict("records")]


@router.post("", response_model=GridVersionOut, status_code=201)
def create_draft(body: DraftCreate, store: StoreDep, who: PrincipalDep) -> GridVersionOut:
    """A new draft: a copy of a version, or the grids you send."""
    grids = features_to_gdf(body.grids) if body.grids is not None else None
    if grids is not None:
        access.check_grids(who, grids, what="draft grids")
    elif body.copy_of is not None:
        access.check_version(store, who, body.copy_of, what="copying")
    number = gv.create_draft(store, grids, name=body.name, note=body.note, copy_of=body.copy_of)
    return _out(
        gv.list_versions(store).set_index("version").loc[number].to_dict() | {"version": number}
    )


@router.get("/{version}")
def get_version(version: int, store: StoreDep, response: Response) -> dict:
    """The version's grids as GeoJSON; the ETag header carries the revision to save against."""
    meta = gv.get_version(store, version)
    body = to_feature_collection(store.read("grids", where={"version": version}), id_column="code")
    body["version"] = version
    body["revision"] = int(meta["revision"])
    body["status"] = meta["status"]
    response.headers["ETag"] = f'"{int(meta["revision"])}"'
    return body


@router.put("/{version}")
def save_version(
    version: int,
    store: StoreDep,
    body: Annotated[Any, Body(description="GeoJSON FeatureCollection of the draft's grids")],
    response: Response,
    who: PrincipalDep,
    if_match: Annotated[str | None, Header(description="the revision (ETag) you edited")] = None,
) -> dict:
    """Save a draft. 409 if someone saved it after the revision in If-Match."""
    if not if_match:
        raise SchemaError("send If-Match with the revision (ETag) you started from")
    try:
        base = int(if_match.strip().strip("W/").strip('"'))
    except ValueError:
        raise SchemaError(f"If-Match {if_match!r} is not a revision number") from None
    grids = features_to_gdf(body)
    access.check_version(store, who, version, what="saving")
    access.check_grids(who, grids, what="saved grids")
    revision = gv.save_draft(store, version, grids, base_revision=base)
    response.headers["ETag"] = f'"{revision}"'
    return {"version": version, "revision": revision, "grids": len(grids)}


@router.post("/{version}/activate")
def activate(version: int, store: StoreDep, who: PrincipalDep, confirm: bool = False) -> dict:
    """Make the version active; every incident is re-assigned to it.

    A version with validation problems is refused (409, the problems listed) unless
    ``confirm=true``.
    """
    access.check_version(store, who, version, what="activating")
    return {"version": version, "incidents": gv.activate(store, version, confirm=confirm)}


@router.get("/{old}/diff/{new}")
def diff(old: int, new: int, store: StoreDep) -> dict:
    """What changes from ``old`` to ``new``: grids, buildings, households, incidents."""
    d = gv.diff_versions(store, old, new)
    return {
        "summary": d.summary(),
        "added": d.added,
        "removed": d.removed,
        "changed": d.changed,
        "changed_areas": to_feature_collection(d.changed_areas.to_crs(4326)),
        "buildings_moved": d.buildings_moved.to_dict("records"),
        "households_moved": d.households_moved.to_dict("records"),
        "incidents_moved": d.incidents_moved.to_dict("records"),
    }


#: Reports, per process, keyed by version, options and the revisions of what they read.
REPORT_CACHE = RevisionCache(max_items=64)
#: The layers a grid report reads.
REPORT_SOURCES = (
    "grids",
    "grid_versions",
    "areas",
    "buildings",
    "streets",
    "incidents",
    "project",
)


@router.get("/{version}/report")
def report(
    version: int,
    store: StoreDep,
    response: Response,
    walk_tours: bool = False,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """Validation report: problems (each with a location) and per-grid metrics.

    Incidents are counted by the database; ``walk_tours=true`` adds each grid's walk
    tour (the slow part: computed once per grid version, then kept).

    Cached per data revision: a second request for unchanged data is answered from
    memory, and one revalidating with the ETag it got is answered 304 with no body.
    """
    revs = tuple(store.revisions(*REPORT_SOURCES).values())
    key = (store.url, "report", version, walk_tours, revs)
    etag = revision_etag(key)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    body = REPORT_CACHE.get_or_compute(
        key, lambda: _report_body(gv.version_report(store, version, walk_tours=walk_tours))
    )
    response.headers.update(headers)
    return body


def _report_body(r) -> dict:
    import json

    problems = r.problems_frame()
    metrics = r.metrics.reset_index()
    return {
        "summary": json.loads(json.dumps(r.summary, default=float)),
        "problems": to_feature_collection(problems.to_crs(4326))
        if len(problems)
        else {"type": "FeatureCollection", "features": []},
        "metrics": json.loads(metrics.to_json(orient="records")),
    }


@router.post("/report")
def report_draft(
    store: StoreDep,
    body: Annotated[Any, Body(description="GeoJSON grids")],
    walk_tours: bool = False,
) -> dict:
    """Validate unsaved grids (for the editor): the same report, nothing stored."""
    grids = features_to_gdf(body)
    missing = [c for c in ("code", "parent_code") if c not in grids.columns]
    if missing:
        raise SchemaError(f"request body: grid features need the properties {', '.join(missing)}")
    return _report_body(gv.report_for_grids(store, grids, walk_tours=walk_tours))


@router.get("/{version}/export.gpkg", response_class=Response)
def export(version: int, store: StoreDep) -> Response:
    """GeoPackage for QGIS: grids with their metrics, and the problems layer."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"grids-v{version}.gpkg"
        gv.export_gpkg(store, version, path)
        data = path.read_bytes()
    return Response(
        data,
        media_type="application/geopackage+sqlite3",
        headers={"Content-Disposition": f'attachment; filename="grids-v{version}.gpkg"'},
    )


@router.post("/import", status_code=201)
def import_file(
    store: StoreDep,
    who: PrincipalDep,
    file: Annotated[UploadFile, File(description="GeoPackage (layer 'grids'), GeoJSON...")],
    name: str = "",
) -> dict:
    """Import an edited file as a new draft; returns its number and validation report."""
    suffix = Path(file.filename or "grids.gpkg").suffix or ".gpkg"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(file.file.read())
        access.check_grid_file(who, path, what="imported grids")
        number, r = gv.import_draft(store, path, name=name or (file.filename or ""))
    return {"version": number, "report": _report_body(r)}


@router.post("/propose")
def propose(request: ProposalRequest, store: StoreDep, who: PrincipalDep) -> dict:
    """Balanced grid proposals for communities, ranked; optionally saved as a draft."""
    import json

    access.check_codes(
        who, [*request.community_codes, *(request.locked_codes or [])], what="proposing for"
    )

    proposals = gv.propose(
        store,
        request.community_codes,
        band=tuple(request.band),
        n_grids=request.n_grids,
        seed=request.seed,
        alternatives=request.alternatives,
        weight=request.weight,
        locked_codes=request.locked_codes,
        save=request.save,
        name=request.name,
    )
    return {
        "proposals": [
            {
                "rank": p["rank"],
                "seed": p["seed"],
                "version": p.get("version"),
                "metrics": json.loads(json.dumps(p["metrics"], default=float)),
                "grids": to_feature_collection(p["grids"]),
            }
            for p in proposals
        ]
    }


@router.get("/{a}/compare/{b}")
def compare(a: int, b: int, store: StoreDep) -> dict:
    """Where version ``a`` and version ``b`` disagree (e.g. grids against police beats):
    pieces of ``a`` outside their main ``b`` feature, and buildings on the wrong side."""
    import json

    c = gv.compare_versions(store, a, b)
    pieces = c.pieces.to_crs(4326) if len(c.pieces) else c.pieces
    wrong = c.wrong_side.to_crs(4326) if len(c.wrong_side) else c.wrong_side
    return {
        "summary": json.loads(json.dumps(c.summary, default=float)),
        "matches": json.loads(c.matches.reset_index().to_json(orient="records")),
        "pieces": to_feature_collection(pieces)
        if len(pieces)
        else {"type": "FeatureCollection", "features": []},
        "wrong_side": to_feature_collection(wrong)
        if len(wrong)
        else {"type": "FeatureCollection", "features": []},
    }


@router.post("/{a}/align/{b}", status_code=201)
def align(a: int, b: int, store: StoreDep, who: PrincipalDep, name: str = "") -> dict:
    """A new draft of ``a`` aligned to ``b`` (every grid within one ``b`` grid), with its report."""
    access.check_version(store, who, a, what="aligning")
    number, r = gv.align_versions(store, a, b, name=name)
    return {"version": number, "report": _report_body(r)}
