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
                written = store.write(
                    data.layers(), mode="replace", source=str(file or place or bbox)
                )
                store.set_setting("bounds", list(data.bounds))
    except GridPatrolError as exc:
        _fail(exc)
    _print_counts("imported", written)


def _import_layer(layer: str, file: Path, crs: str | None, db: str | None, defaults=None) -> None:
    from gridpatrol.store.files import load_layer_file

    try:
        with _open(db) as store:
            with _Steps(f"{layer} from {file.name}") as steps:
                steps("reading and validating")
                gdf = load_layer_file(
                    file,
                    layer,
                    crs=crs,
                    area_bounds=store.get_setting("bounds"),
                    defaults=defaults,
                )
                steps("writing")
                written = store.write({layer: gdf}, mode="upsert", source=str(file))
    except GridPatrolError as exc:
        _fail(exc)
    _print_counts("imported", written)


CrsOption = Annotated[
    str | None,
    typer.Option("--crs", help="CRS of the coordinates if the file has none: EPSG:n, gcj02, bd09"),
]


@import_app.command("grids")
def import_grids(
    file: Path,
    crs: CrsOption = None,
    version: Annotated[int, typer.Option(help="grid layer version to import into")] = 1,
    db: DbOption = None,
) -> None:
    """Import grids (needs a 'code' column) from GeoJSON, GeoPackage, Shapefile or GeoParquet."""
    _import_layer("grids", file, crs, db, defaults={"version": version})


@import_app.command("buildings")
def import_buildings(file: Path, crs: CrsOption = None, db: DbOption = None) -> None:
    """Import building footprints (needs a 'source_id' column)."""
    _import_layer("buildings", file, crs, db)


@import_app.command("cameras")
def import_cameras(file: Path, crs: CrsOption = None, db: DbOption = None) -> None:
    """Import camera points (needs a 'source_id' column)."""
    _import_layer("cameras", file, crs, db)


@import_app.command("incidents")
def import_incidents(
    file: Annotated[Path, typer.Argument(help="CSV, GeoJSON or GeoParquet")],
    lon: Annotated[str, typer.Option(help="CSV column with longitude (or x)")] = "lon",
    lat: Annotated[str, typer.Option(help="CSV column with latitude (or y)")] = "lat",
    time: Annotated[str, typer.Option(help="column with the report time")] = "reported_at",
    category: Annotated[str, typer.Option(help="column with the category")] = "category",
    id_column: Annotated[
        str, typer.Option("--id", help="column with your incident id")
    ] = "incident_id",
    crs: CrsOption = None,
    partial: Annotated[bool, typer.Option(help="store good rows even if some are bad")] = False,
    db: DbOption = None,
) -> None:
    """Import incidents; the batch lands whole unless --partial (bad rows are listed)."""
    from gridpatrol.services.incidents import (
        BatchRejected,
        ingest_incident_chunks,
        iter_incident_table,
    )

    try:
        with _open(db) as store, _Steps(f"incidents from {file.name}") as steps:
            chunks = iter_incident_table(
                file, lon=lon, lat=lat, time=time, category=category, id_column=id_column, crs=crs
            )

            def counted():
                done = 0
                for chunk in chunks:  # bounded memory: one chunk in flight
                    steps(f"reading, validating, assigning and storing (row {done:,})")
                    yield chunk
                    done += len(chunk)

            result = ingest_incident_chunks(
                store, counted(), partial=partial, actor=f"import {file.name}"
            )
    except BatchRejected as exc:
        for r in exc.rejected.head(20).to_dict("records"):
            console.print(f"  row {r['row']} ({r['incident_id']}): {r['reason']}")
        if len(exc.rejected) > 20:
            console.print(f"  ... and {len(exc.rejected) - 20} more")
        _fail(exc)
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


@app.command()
def assign(
    source: Annotated[Path, typer.Argument(help="incidents: GeoParquet, or CSV with lon/lat")],
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
    except GridPatrolError as exc:
        _fail(exc)


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the API and map pages."""
    import uvicorn

    from gridpatrol.api.main import create_app
    from gridpatrol.api.settings import Settings

    settings = Settings(database_url=_db_url(db), host=host, port=port)
    console.print(f"serving [bold]{settings.database_url}[/bold] at http://{host}:{port}/")
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
    from gridpatrol.demo import build_demo

    url = db or os.environ.get("GRIDPATROL_DATABASE_URL") or "sqlite:///gridpatrol-demo.db"
    try:
        with _Steps("Helsinki demo") as steps, _open(url) as store:
            written = build_demo(store, progress=steps, plan_seconds=10.0)
            plan_id = store.get_setting("demo_plan_id")
    except GridPatrolError as exc:
        _fail(exc)
    _print_counts("demo project", written)
    base = f"http://{host}:{port}"
    console.print(
        f"maps: {base}/  {base}/maps/grids  {base}/maps/incidents  {base}/maps/cameras\n"
        f"patrol plan: {base}/patrols/{plan_id}\n"
        f"team T1 on a phone: {base}/patrols/{plan_id}/teams/T1\n"
        f"grid editor: {base}/editor/1   API docs: {base}/docs"
    )
    if serve_it:
        serve(db=url, host=host, port=port)


if __name__ == "__main__":  # pragma: no cover
    app()
