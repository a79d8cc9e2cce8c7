"""The ``gridpatrol`` command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridpatrol.geo.errors import GridPatrolError

app = typer.Typer(
    help="Grid-based community safety: grids, cameras, incidents, patrols.", no_args_is_help=True
)
import_app = typer.Typer(help="Import data into the project store.", no_args_is_help=True)
app.add_typer(import_app, name="import")
console = Console(stderr=True)

DEFAULT_DB = "sqlite:///gridpatrol.db"
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store URL: sqlite:///file.db (default) or postgresql://..."),
]


def _db_url(db: str | None) -> str:
    return db or os.environ.get("GRIDPATROL_DATABASE_URL") or DEFAULT_DB


def _open(db: str | None):
    from gridpatrol.store.base import open_store

    return open_store(_db_url(db))


class _Steps:
    """A rich progress display fed by step names."""

    def __init__(self, title: str) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.title = title
        self.task = None

    def __enter__(self):
        self.progress.start()
        self.task = self.progress.add_task(self.title, total=None)
        return self

    def __call__(self, step: str) -> None:
        self.progress.update(self.task, description=f"{self.title}: {step}")

    def __exit__(self, exc_type, *exc) -> None:
        outcome = "failed" if exc_type else "done"
        self.progress.update(
            self.task, description=f"{self.title}: {outcome}", total=1, completed=1
        )
        self.progress.stop()


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(code=2)


def _print_counts(title: str, counts: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column("layer")
    table.add_column("features", justify="right")
    for name, n in counts.items():
        table.add_row(name, str(n))
    console.print(table)


@import_app.command("osm")
def import_osm(
    file: Annotated[Path | None, typer.Argument(help=".osm, .osm.bz2 or .osm.pbf")] = None,
    place: Annotated[str | None, typer.Option(help="download a place by name (online)")] = None,
    bbox: Annotated[
        str | None, typer.Option(help="download west,south,east,north (online)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Import streets, buildings, cameras and addresses from OpenStreetMap."""
    from gridpatrol.services.imports import import_osm_layers
    from gridpatrol.store.osm import download_osm, read_osm

    if (file is None) == (place is None and bbox is None):
        _fail(GridPatrolError("give an OSM FILE, or --place NAME, or --bbox W,S,E,N"))
    try:
        with _Steps("OSM") as steps:
            if file is not None:
                data = read_osm(file, progress=steps)
            else:
                box = tuple(float(v) for v in bbox.split(",")) if bbox else None
                data = download_osm(place=place, bbox=box, progress=steps)
            with _open(db) as store:
                written = import_osm_layers(store, data, source=str(file or place or bbox))
    except GridPatrolError as exc:
        _fail(exc)
    _print_counts("imported", written)
    for note in data.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


def _print_notes(notes) -> None:
    for note in notes or []:
        console.print(f"[yellow]note:[/yellow] {note}")


def _fields(values: list[str] | None) -> dict[str, str]:
    """``["name=dist_label", ...]`` -> ``{"name": "dist_label"}``."""
    out = {}
    for item in values or []:
        model, sep, src = item.partition("=")
        if not sep or not model.strip() or not src.strip():
            _fail(GridPatrolError(f"--field {item!r}: write MODEL_COLUMN=FILE_COLUMN"))
        out[model.strip()] = src.strip()
    return out


def _import_layer(
    layer: str,
    file: Path,
    crs: str | None,
    db: str | None,
    defaults=None,
    columns: dict[str, str] | None = None,
    id_columns: str | None = None,
    where: list[str] | None = None,
) -> None:
    from gridpatrol.services.imports import import_layer_file

    ids = [c.strip() for c in id_columns.split(",")] if id_columns else None
    try:
        with _open(db) as store:
            with _Steps(f"{layer} from {file.name}") as steps:
                written, notes = import_layer_file(
                    store,
                    layer,
                    file,
                    crs=crs,
                    defaults=defaults,
                    columns=columns,
                    id_columns=ids,
                    where=_fields(where),
                    progress=steps,
                )
    except GridPatrolError as exc:
        _fail(exc)
    _print_counts("imported", written)
    _print_notes(notes)


CrsOption = Annotated[
    str | None,
    typer.Option(
        "--crs",
        help="CRS of the coordinates: EPSG:n, gcj02 (AMap/Tencent), bd09 (Baidu). Overrides "
        "what the file declares; gcj02/bd09 are converted to WGS84 and the conversion reported",
    ),
]
FieldOption = Annotated[
    list[str] | None,
    typer.Option("--field", help="map a column: MODEL=FILE_COLUMN (repeatable), e.g. levels=Floor"),
]
WhereOption = Annotated[
    list[str] | None,
    typer.Option("--where", help="keep rows where COLUMN=VALUE (repeatable)"),
]
IdOption = Annotated[
    str | None,
    typer.Option(
        "--id",
        help="id column(s): one name, several joined by commas (a,b) when ids repeat, "
        "or @row to number the rows",
    ),
]


@import_app.command("grids")
def import_grids(
    file: Path,
    crs: CrsOption = None,
    version: Annotated[int, typer.Option(help="grid layer version to import into")] = 1,
    code: Annotated[str | None, typer.Option(help="column with the grid code")] = None,
    name: Annotated[str | None, typer.Option(help="column with the grid name")] = None,
    field: FieldOption = None,
    where: WhereOption = None,
    db: DbOption = None,
) -> None:
    """Import grids (a 'code' column, or --code COLUMN) from GeoJSON, GeoPackage, Shapefile
    (zip), GeoParquet or CSV with WKT."""
    columns = _fields(field)
    if code:
        columns["code"] = code
    if name:
        columns["name"] = name
    _import_layer(
        "grids", file, crs, db, defaults={"version": version}, columns=columns, where=where
    )


@import_app.command("areas")
def import_areas(
    file: Path,
    crs: CrsOption = None,
    code: Annotated[str | None, typer.Option(help="column with the area code")] = None,
    name: Annotated[str | None, typer.Option(help="column with the area name")] = None,
    level: Annotated[
        str | None,
        typer.Option(help="district, street or community for every row (or a 'level' column)"),
    ] = None,
    field: FieldOption = None,
    where: WhereOption = None,
    db: DbOption = None,
) -> None:
    """Import administrative areas (districts, streets, communities) above grids."""
    columns = _fields(field)
    if code:
        columns["code"] = code
    if name:
        columns["name"] = name
    _import_layer(
        "areas",
        file,
        crs,
        db,
        defaults={"level": level} if level else None,
        columns=columns,
        where=where,
    )


@import_app.command("buildings")
def import_buildings(
    file: Path,
    crs: CrsOption = None,
    id: IdOption = None,
    field: FieldOption = None,
    db: DbOption = None,
) -> None:
    """Import building footprints (a 'source_id' column, or --id COLUMN[,COLUMN] / @row)."""
    _import_layer("buildings", file, crs, db, columns=_fields(field), id_columns=id)


@import_app.command("cameras")
def import_cameras(
    file: Path,
    crs: CrsOption = None,
    id: IdOption = None,
    field: FieldOption = None,
    db: DbOption = None,
) -> None:
    """Import camera points (a 'source_id' column, or --id COLUMN[,COLUMN] / @row)."""
    _import_layer("cameras", file, crs, db, columns=_fields(field), id_columns=id)


@import_app.command("incidents")
def import_incidents(
    file: Annotated[Path, typer.Argument(help="CSV, GeoJSON, GeoPackage or GeoParquet")],
    lon: Annotated[str, typer.Option(help="CSV column with longitude (or x)")] = "lon",
    lat: Annotated[str, typer.Option(help="CSV column with latitude (or y)")] = "lat",
    time: Annotated[str, typer.Option(help="column with the report time (or date)")] = (
        "reported_at"
    ),
    category: Annotated[str, typer.Option(help="column with the category")] = "category",
    id_column: Annotated[
        str,
        typer.Option(
            "--id",
            help="column with your incident id; a,b joins columns when ids repeat "
            "(e.g. incident_id,category); @row numbers the rows",
        ),
    ] = "incident_id",
    field: FieldOption = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz", help="time zone for times without one (default: the project's, see `project`)"
        ),
    ] = None,
    crs: CrsOption = None,
    partial: Annotated[bool, typer.Option(help="store good rows even if some are bad")] = False,
    db: DbOption = None,
) -> None:
    """Import incidents; the batch lands whole unless --partial (bad rows are listed)."""
    from gridpatrol.services.file_imports import count_naive_times
    from gridpatrol.services.incidents import (
        BatchRejected,
        ingest_incident_chunks,
        iter_incident_table,
        project_settings,
    )

    try:
        with _open(db) as store, _Steps(f"incidents from {file.name}") as steps:
            chunks = iter_incident_table(
                file,
                lon=lon,
                lat=lat,
                time=time,
                category=category,
                id_column=id_column,
                crs=crs,
                fields=_fields(field),
            )
            notes: list[str] = []
            zone = tz or project_settings(store).timezone
            naive = 0

            def counted():
                nonlocal naive
                done = 0
                for chunk in chunks:  # bounded memory: one chunk in flight
                    steps(f"reading, validating, assigning and storing (row {done:,})")
                    naive += count_naive_times(chunk["reported_at"])
                    notes.extend(chunk.attrs.get("notes", []))
                    yield chunk
                    done += len(chunk)

            result = ingest_incident_chunks(
                store, counted(), partial=partial, actor=f"import {file.name}", default_tz=tz
            )
    except BatchRejected as exc:
        for r in exc.rejected.head(20).to_dict("records"):
            console.print(f"  row {r['row']} ({r['incident_id']}): {r['reason']}")
        if len(exc.rejected) > 20:
            console.print(f"  ... and {len(exc.rejected) - 20} more")
        _fail(
            GridPatrolError(
                f"{len(exc.rejected)} row(s) rejected, nothing stored. Fix them, or run again "
                "with --partial to store the good rows"
            )
        )
    except GridPatrolError as exc:
        _fail(exc)
    for r in result.rejected[:20]:
        console.print(f"  skipped row {r['row']} ({r['incident_id']}): {r['reason']}")
    _print_counts(
        "incidents",
        {
            "created": len(result.created),
            "updated": len(result.updated),
            "unchanged": len(result.unchanged),
            "rejected": len(result.rejected),
            "snapped to a grid": len(result.snapped),
            "unassigned": len(result.unassigned),
        },
    )
    if naive and zone:
        notes.append(f"{naive} time(s) without a time zone were read in {zone}")
    _print_notes(notes)


@app.command()
def project(
    timezone: Annotated[
        str | None,
        typer.Option(help="IANA time zone for times and dates given without one"),
    ] = None,
    taxonomy: Annotated[
        Path | None,
        typer.Option(help="JSON file of incident categories (the shape of categories.json)"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="project name shown on pages")] = None,
    db: DbOption = None,
) -> None:
    """Show or set project settings: time zone, incident categories, name."""
    import json

    from gridpatrol.services.project import update_project

    try:
        data = None
        if taxonomy is not None:
            try:
                data = json.loads(taxonomy.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise GridPatrolError(f"{taxonomy}: cannot read it as JSON ({exc})") from exc
        with _open(db) as store:
            settings = update_project(store, timezone=timezone, taxonomy=data, name=name)
    except GridPatrolError as exc:
        _fail(exc)
    table = Table(title="project")
    table.add_column("setting")
    table.add_column("value")
    table.add_row("name", settings.name or "-")
    table.add_row("time zone", settings.timezone or "- (times need an offset)")
    table.add_row("categories", ", ".join(settings.taxonomy.categories))
    table.add_row("active grid version", str(settings.active_grid_version))
    console.print(table)


@app.command()
def assign(
    source: Annotated[
        Path, typer.Argument(help="incident points: CSV with lon/lat, GeoParquet, GeoJSON, GPKG")
    ],
    output: Annotated[Path, typer.Argument(help="GeoParquet to write, with grid codes")],
    dask: Annotated[
        str | None,
        typer.Option("--dask", help="scheduler address; 'local' starts a local cluster"),
    ] = None,
    workers: Annotated[int, typer.Option(help="workers of a local cluster")] = 2,
    lon: Annotated[str, typer.Option()] = "lon",
    lat: Annotated[str, typer.Option()] = "lat",
    crs: CrsOption = None,
    version: Annotated[int | None, typer.Option(help="grid version (default: active)")] = None,
    snap: Annotated[float, typer.Option(help="snap tolerance in metres")] = 30.0,
    db: DbOption = None,
) -> None:
    """Assign a large incident file to grids, in partitions, optionally on a dask cluster."""
    from gridpatrol.services.imports import assign_file

    try:
        with _open(db) as store, _Steps(f"assigning {source.name}") as steps:
            n = assign_file(
                store,
                source,
                output,
                scheduler=dask,
                n_workers=workers,
                lon=lon,
                lat=lat,
                crs=crs,
                version=version,
                snap_tolerance_m=snap,
                progress=steps,
            )
    except GridPatrolError as exc:
        _fail(exc)
    console.print(f"wrote {n} rows to {output}")


@app.command()
def info(db: DbOption = None) -> None:
    """Show what the store holds."""
    try:
        with _open(db) as store:
            _print_counts(f"{store.url} (schema {store.schema_version})", store.layer_counts())
            for line in _grid_lines(store):
                console.print(line, highlight=False)
    except GridPatrolError as exc:
        _fail(exc)


def _grid_lines(store, *, limit: int = 50) -> list[str]:
    """The active grid version's codes and names (what ``plan --area CODE`` takes)."""
    from gridpatrol.services.project import active_version

    version = active_version(store)
    grids = store.read("grids", where={"version": version})
    if grids.empty:
        return []
    grids = grids.sort_values("code")
    lines = [f"grids of the active version {version} (for plan --area CODE):"]
    for code, name in zip(grids["code"][:limit], grids["name"][:limit], strict=True):
        lines.append(f"  {code}  {name}" if name else f"  {code}")
    if len(grids) > limit:
        lines.append(f"  … and {len(grids) - limit} more")
    return lines


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            help="worker processes; more than 1 needs PostGIS (the embedded store has "
            "one writer at a time)"
        ),
    ] = 1,
) -> None:
    """Serve the API and map pages."""
    import uvicorn

    url = _db_url(db)
    if workers > 1 and not url.startswith(("postgresql://", "postgres://", "postgis://")):
        _fail(
            GridPatrolError(
                "--workers above 1 needs a PostGIS store (--db postgresql://...): the "
                "embedded store takes one writer at a time, so one worker serves it best"
            )
        )
    console.print(f"serving [bold]{url}[/bold] at http://{host}:{port}/ ({workers} worker(s))")
    if workers > 1:
        # Each worker process builds its own app from the environment.
        os.environ["GRIDPATROL_DATABASE_URL"] = url
        uvicorn.run(
            "gridpatrol.api.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
        )
        return
    from gridpatrol.api.main import create_app
    from gridpatrol.api.settings import Settings

    settings = Settings(database_url=url, host=host, port=port)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command()
def demo(
    db: DbOption = None,
    serve_it: Annotated[
        bool, typer.Option("--serve/--no-serve", help="serve after building")
    ] = True,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Build the central-Helsinki demo project and serve it at http://127.0.0.1:8000."""
    from gridpatrol.demo import TOKEN_USES, build_demo, demo_tokens

    url = _db_url(db)  # the one default store, as for every command
    try:
        with _open(url) as store:
            name = store.get_setting("name")
            if name and name != "Helsinki demo" and store.count("grids"):
                raise GridPatrolError(
                    f"{url} holds the project {name!r}; the demo would replace it. "
                    "Give the demo its own store: gridpatrol demo --db sqlite:///demo.db"
                )
        with _Steps("Helsinki demo") as steps, _open(url) as store:
            written = build_demo(store, progress=steps, plan_seconds=10.0)
            plan_id = store.get_setting("demo_plan_id")
            tokens = demo_tokens(store)
    except GridPatrolError as exc:
        _fail(exc)
    _print_counts("demo project", written)
    base = f"http://{host}:{port}" if serve_it else ""
    if not serve_it:
        dbopt = f" --db {url}" if url != DEFAULT_DB else ""
        console.print(
            f"nothing is served yet: run [bold]gridpatrol serve{dbopt}[/bold] and open "
            f"http://{host}:{port}/ (the pages below are paths on that server)"
        )
    console.print(
        "the incidents are a generated sample, labelled as such\n"
        f"maps: {base}/  {base}/maps/grids  {base}/maps/incidents  {base}/maps/cameras\n"
        f"patrol plan: {base}/patrols/{plan_id}\n"
        f"team T1 on a phone: {base}/patrols/{plan_id}/teams/T1\n"
        f"grid editor: {base}/editor/1   API docs: {base}/docs\n"
        f"log in at {base}/login with a token (shown once):\n"
        f"  admin token:  {tokens['admin']}\n    {TOKEN_USES['admin']}\n"
        f"  viewer token: {tokens['viewer']}\n    {TOKEN_USES['viewer']}"
    )
    if serve_it:
        serve(db=url, host=host, port=port)


# -- stations, teams, patrol plans, activation, new city ------------------------------
station_app = typer.Typer(help="Patrol stations.", no_args_is_help=True)
team_app = typer.Typer(help="Volunteer patrol teams.", no_args_is_help=True)
app.add_typer(station_app, name="station")
app.add_typer(team_app, name="team")


@station_app.command("add")
def station_add(
    station_id: Annotated[str, typer.Argument(help="your id for the station, e.g. S1")],
    lon: Annotated[float, typer.Option(help="longitude (or x in --crs)")],
    lat: Annotated[float, typer.Option(help="latitude (or y in --crs)")],
    name: Annotated[str, typer.Option(help="shown on pages")] = "",
    crs: CrsOption = None,
    db: DbOption = None,
) -> None:
    """Create (or move) a patrol station at a point."""
    from gridpatrol.services.setup import add_station

    try:
        with _open(db) as store:
            row = add_station(store, station_id, lon=lon, lat=lat, name=name, crs=crs)
    except GridPatrolError as exc:
        _fail(exc)
    where = f"in grid {row['grid_code']}" if row["grid_code"] else "outside the active grids"
    console.print(f"station {station_id} at {row['lon']}, {row['lat']} ({where})")


@team_app.command("add")
def team_add(
    team_id: Annotated[str | None, typer.Argument(help="your id for the team, e.g. T1")] = None,
    station: Annotated[str | None, typer.Option(help="station the team starts from")] = None,
    name: Annotated[str, typer.Option()] = "",
    members: Annotated[int, typer.Option()] = 10,
    speed: Annotated[float, typer.Option("--speed", help="km/h")] = 4.0,
    shift: Annotated[float, typer.Option("--shift", help="minutes")] = 120.0,
    mode: Annotated[str, typer.Option(help="walk or drive")] = "walk",
    file: Annotated[
        Path | None,
        typer.Option("--file", help="CSV/JSON with team_id, station_id[, name, members...]"),
    ] = None,
    db: DbOption = None,
) -> None:
    """Create or update a team (or many from --file)."""
    import pandas as pd

    from gridpatrol.services.setup import add_teams, read_teams_file

    try:
        if file is not None:
            teams = read_teams_file(file)
        elif team_id and station:
            teams = pd.DataFrame(
                {
                    "team_id": [team_id],
                    "station_id": [station],
                    "name": [name],
                    "members": [members],
                    "speed_kmh": [speed],
                    "shift_minutes": [shift],
                    "mode": [mode],
                }
            )
        else:
            raise GridPatrolError("give TEAM_ID and --station, or --file")
        with _open(db) as store:
            n = add_teams(store, teams)
    except GridPatrolError as exc:
        _fail(exc)
    console.print(f"{n} team(s) saved")


@app.command()
def plan(
    station: Annotated[str, typer.Option(help="station the teams start from")],
    teams: Annotated[
        str | None, typer.Option(help="team ids, comma-separated (default: the station's)")
    ] = None,
    k: Annotated[int | None, typer.Option(help="number of teams (routes)")] = None,
    area: Annotated[
        str | None, typer.Option(help="grid, community or street code (default: every street)")
    ] = None,
    network: Annotated[str, typer.Option(help="walk or drive")] = "walk",
    speed: Annotated[float, typer.Option("--speed", help="km/h")] = 4.0,
    shift: Annotated[float | None, typer.Option("--shift", help="shift length, minutes")] = None,
    split_sorties: Annotated[bool, typer.Option(help="split long routes into sorties")] = False,
    hotspots: Annotated[bool, typer.Option(help="dwell at incident hot spots")] = True,
    hours: Annotated[
        str | None, typer.Option(help="hot-spot hours FROM-TO (local), e.g. 18-23")
    ] = None,
    dwell: Annotated[float, typer.Option("--dwell", help="minutes per hot spot")] = 12.0,
    max_dwells: Annotated[int, typer.Option(help="hot spots per route")] = 4,
    days: Annotated[int, typer.Option(help="days of rotation (1-14)")] = 1,
    streets: Annotated[
        str | None, typer.Option(help="only these street names, comma-separated")
    ] = None,
    highways: Annotated[
        str | None, typer.Option(help="only these OSM highway types, comma-separated")
    ] = None,
    camera_blind_spots: Annotated[
        bool | None,
        typer.Option(
            help="walk streets no camera sees (with incidents) every day, dwell at blind "
            "areas (default: on when the project has cameras)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
    time_limit: Annotated[float, typer.Option(help="solver seconds")] = 10.0,
    name: Annotated[str, typer.Option()] = "",
    gpx: Annotated[
        Path | None, typer.Option(help="folder to write one GPX file per team route")
    ] = None,
    db: DbOption = None,
) -> None:
    """Plan balanced patrol routes (the options of POST /api/patrols/plans)."""
    from gridpatrol.services.patrols import PlanRequest, get_plan, plan_patrols

    def _list(text):
        return [v.strip() for v in text.split(",") if v.strip()] if text else []

    try:
        span = None
        if hours:
            a, _, b = hours.partition("-")
            span = (int(a), int(b))
        request = PlanRequest(
            station_id=station,
            teams=_list(teams),
            k=k,
            area_code=area,
            network=network,
            speed_kmh=speed,
            shift_minutes=shift,
            split_sorties=split_sorties,
            hotspots=hotspots,
            hours=span,
            dwell_minutes=dwell,
            max_dwells=max_dwells,
            days=days,
            seed=seed,
            time_limit_s=time_limit,
            name=name,
            required_streets=_list(streets),
            required_highways=_list(highways),
            camera_blind_spots=camera_blind_spots,
        )
        with _open(db) as store, _Steps("planning patrols") as steps:
            steps("solving")
            plan_id = plan_patrols(store, request)
            meta, routes = get_plan(store, plan_id)
            if gpx is not None:
                from gridpatrol.store.gpx import route_to_gpx

                gpx.mkdir(parents=True, exist_ok=True)
                for r in routes.to_crs(4326).itertuples():
                    label = f"{r.team_id} day {r.day}" + (f" {r.shift}" if r.shift else "")
                    stem = f"{plan_id}-{r.team_id}-day{r.day}-{r.shift or 'all'}-{r.sortie}"
                    (gpx / f"{stem}.gpx").write_text(
                        route_to_gpx(r.geometry, name=label), encoding="utf-8"
                    )
    except (GridPatrolError, ValueError) as exc:
        _fail(exc)
    table = Table(title=f"plan {plan_id}")
    for col in ("team", "km", "minutes"):
        table.add_column(col, justify="right" if col != "team" else "left")
    for team, grp in routes.groupby("team_id"):
        table.add_row(
            str(team), f"{grp['length_m'].sum() / 1000:.1f}", f"{grp['minutes'].sum():.0f}"
        )
    console.print(table)
    for line in _plan_remarks(meta["summary"], routes, shift_given=shift is not None):
        console.print(line)
    console.print(f"plan id: {plan_id}   page: /patrols/{plan_id} (gridpatrol serve)")


WALKING_SHIFT_MINUTES = 180  # beyond this a route is more than one walking shift


def _plan_remarks(summary: dict, routes, *, shift_given: bool) -> list[str]:
    """What the km/min table does not say: left-out streets, notes, over-long routes."""
    lines = []
    left_out = len(summary.get("unreachable_streets") or [])
    if left_out:
        reasons = {}
        for f in (summary.get("unreachable_geojson") or {}).get("features", []):
            reason = (f.get("properties") or {}).get("reason")
            reasons[reason] = reasons.get(reason, 0) + 1
        why = {
            "disconnected": "not connected to the station's streets",
            "one_way": "one-way streets lead there but none back",
        }
        detail = ", ".join(f"{n} {why.get(r, r or 'unknown reason')}" for r, n in reasons.items())
        lines.append(
            f"[yellow]{left_out} of {summary.get('required_streets', '?')} required street(s) "
            f"left out as unreachable[/yellow]" + (f" ({detail})" if detail else "")
        )
    for note in summary.get("notes") or []:
        lines.append(f"note: {note}")
    if not shift_given and len(routes):
        per_team = routes.groupby(["team_id", "day"])["minutes"].sum()
        longest = float(per_team.max())
        if longest > WALKING_SHIFT_MINUTES:
            lines.append(
                f"[yellow]warning: the longest route takes {longest:.0f} min, more than a "
                f"{WALKING_SHIFT_MINUTES}-minute walking shift[/yellow]; give --shift MINUTES "
                "(with --split-sorties), spread the streets over --days, or add teams (--k)"
            )
    return lines


@app.command()
def activate(
    version: Annotated[int, typer.Argument(help="grid version to make active")],
    confirm: Annotated[
        bool, typer.Option(help="activate although the validation report lists problems")
    ] = False,
    db: DbOption = None,
) -> None:
    """Make a grid version active (incidents are re-assigned to it)."""
    from gridpatrol.geo.errors import ConfirmationRequired
    from gridpatrol.services.grid_versions import activate as activate_version

    try:
        with _open(db) as store:
            counts = activate_version(store, version, confirm=confirm)
    except ConfirmationRequired as exc:
        for p in exc.problems[:30]:
            console.print(f"  {p['kind']} ({', '.join(p['grid_codes'])}): {p['message']}")
        _fail(exc)
    except GridPatrolError as exc:
        _fail(exc)
    console.print(f"version {version} is active; incidents: {counts}")


@app.command()
def report(
    version: Annotated[int, typer.Argument(help="grid version to report on")],
    walk_tours: Annotated[
        bool,
        typer.Option(help="add each grid's walk tour (slow the first time; kept per version)"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the whole report as JSON")] = False,
    db: DbOption = None,
) -> None:
    """The validation report of a grid version: problems and per-grid figures."""
    import json

    from gridpatrol.services.grid_versions import version_report

    try:
        with _open(db) as store:
            r = version_report(store, version, walk_tours=walk_tours)
    except GridPatrolError as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(r.to_dict(), default=float))
        return
    s = r.summary
    console.print(
        f"version {version}: {s['n_grids']} grids, {s['n_problems']} problem(s), "
        f"unassigned incidents: {s['unassigned_incidents']}"
    )
    for p in r.problems[:30]:
        console.print(f"  {p.kind} ({', '.join(p.grid_codes)}): {p.message}")
    shown = [
        c
        for c in ("households", "incidents", "incidents_per_month", "tour_minutes")
        if r.metrics[c].notna().any()
    ]
    console.print(r.metrics[shown].round(1).to_string())


@app.command()
def init(
    file: Annotated[
        Path,
        typer.Argument(help="OSM extract (.osm.pbf, .osm, .osm.bz2), or a buildings file"),
    ],
    name: Annotated[str, typer.Option(help="project name (default: the file name)")] = "",
    households: Annotated[str, typer.Option(help="households per grid, LOW-HIGH")] = "300-500",
    crs: CrsOption = None,
    id: IdOption = None,
    field: FieldOption = None,
    db: DbOption = None,
) -> None:
    """Set up a city from an OSM extract (or building footprints): import, propose
    grids, activate them, place a station, and print what to do next."""
    from gridpatrol.services.setup import init_city

    try:
        lo, _, hi = households.partition("-")
        band = (int(lo), int(hi))
    except ValueError:
        _fail(GridPatrolError(f"--households {households!r}: write LOW-HIGH, e.g. 300-500"))
    url = _db_url(db)
    try:
        with _open(url) as store, _Steps(f"new city from {file.name}") as steps:
            result = init_city(
                store,
                file,
                band=band,
                name=name,
                progress=steps,
                crs=crs,
                columns=_fields(field),
                id_columns=[c.strip() for c in id.split(",")] if id else None,
            )
    except GridPatrolError as exc:
        _fail(exc)
    _print_counts("imported", result.written)
    _print_notes(result.notes)
    if result.version:
        console.print(f"grid version {result.version}: {result.n_grids} grids, active")
    dbopt = f" --db {url}" if url != DEFAULT_DB else ""
    steps_out = [
        f"gridpatrol project --timezone Area/City{dbopt}",
        f"gridpatrol import incidents FILE --time COLUMN --category COLUMN --id COLUMN{dbopt}",
    ]
    if result.station_id:
        steps_out.append(
            f"gridpatrol team add T1 --station {result.station_id}{dbopt}   (one per team)"
        )
        steps_out.append(f"gridpatrol plan --station {result.station_id} --k 3{dbopt}")
    else:
        steps_out.append(f"gridpatrol station add S1 --lon X --lat Y{dbopt}")
    steps_out.append(f"gridpatrol serve{dbopt}   then open http://127.0.0.1:8000/")
    console.print("next:\n  " + "\n  ".join(steps_out))


# -- API tokens (issue 12) -------------------------------------------------------------------

token_app = typer.Typer(help="API tokens: make, list and revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")
RoleOption = Annotated[
    str, typer.Option("--role", help="admin, planner, dispatcher, patrol or viewer")
]


@token_app.command("create")
def token_create(
    role: RoleOption,
    name: Annotated[str, typer.Option("--name", help="who or what it is for")] = "",
    team: Annotated[
        list[str] | None, typer.Option("--team", help="patrol: a team it may see (repeat)")
    ] = None,
    community: Annotated[
        list[str] | None, typer.Option("--community", help="planner: a community code (repeat)")
    ] = None,
    street: Annotated[
        list[str] | None, typer.Option("--street", help="planner: a street code (repeat)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Make a token; it is printed on the last line, once (works on a running server)."""
    from gridpatrol.services.tokens import create_api_token

    given = {"teams": team, "communities": community, "streets": street}
    scope = {k: v for k, v in given.items() if v}
    try:
        with _open(db) as store:
            token, record = create_api_token(store, role=role, name=name, scope=scope)
    except GridPatrolError as exc:
        _fail(exc)
    console.print(f"token {record['id']} ({role}{', ' + name if name else ''}): keep it secret")
    typer.echo(token)


@token_app.command("list")
def token_list(db: DbOption = None) -> None:
    """Every API token (no secrets)."""
    from gridpatrol.services.tokens import list_api_tokens

    with _open(db) as store:
        rows = list_api_tokens(store)
    table = Table("id", "role", "name", "created", "revoked")
    for r in rows:
        table.add_row(r["id"], r["role"], r["name"], r["created_at"] or "", r["revoked_at"] or "")
    Console().print(table)


@token_app.command("revoke")
def token_revoke(token_id: str, db: DbOption = None) -> None:
    """Revoke a token and its browser sessions."""
    from gridpatrol.services.tokens import revoke_api_token

    try:
        with _open(db) as store:
            revoke_api_token(store, token_id)
    except GridPatrolError as exc:
        _fail(exc)
    console.print(f"token {token_id} revoked")


if __name__ == "__main__":  # pragma: no cover
    app()
