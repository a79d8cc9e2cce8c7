"""Imports: OSM data and layer files into a project, and large incident files to grids.

:func:`import_osm_layers` and :func:`import_layer_file` write in one transaction each
(a failed import changes nothing). :func:`assign_file` assigns large incident files to
grids, in partitions, on one machine or a dask cluster. The grid index is built once
and shared by every partition (one key in the dask graph), so the work per partition
is reading, projecting and a vectorised lookup. Both paths run the same partition
function, so their answers are identical.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridpatrol.geo.assignment import GridIndex
from gridpatrol.geo.crs import WGS84, bd09_to_wgs84, gcj02_to_wgs84, parse_crs
from gridpatrol.geo.errors import InputFileError
from gridpatrol.geo.incidents import hierarchy_codes
from gridpatrol.store.base import Store

from .incidents import grid_index
from .project import active_version, project_settings


def import_osm_layers(store: Store, data, *, source: str) -> dict[str, int]:
    """Replace the project's OSM layers with ``data`` (an :class:`~gridpatrol.store.osm.OSMData`)
    and record its bounds as the served area, in one transaction."""
    with store.transaction():
        written = store.write(data.layers(), mode="replace", source=source)
        store.set_setting("bounds", [float(b) for b in data.bounds])
    return written


def import_layer_file(
    store: Store,
    layer: str,
    path,
    *,
    crs=None,
    defaults=None,
    columns: dict[str, str] | None = None,
    id_columns: list[str] | None = None,
    where: dict[str, str] | None = None,
    progress: Callable | None = None,
) -> tuple[dict[str, int], list[str]]:
    """Read, validate and upsert one layer file, in one transaction.

    Checked against the served area; grids of a new version get its ``grid_versions``
    row; the first layer of a project without bounds sets them. Returns rows written per
    layer and the reader's notes (conversions made, rows dropped).
    """
    from gridpatrol.store.files import load_layer_file

    from .setup import import_grid_layer

    if progress:
        progress("reading and validating")
    gdf = load_layer_file(
        path,
        layer,
        crs=crs,
        area_bounds=project_settings(store).bounds,
        defaults=defaults,
        columns=columns,
        id_columns=id_columns,
        where=where,
    )
    notes = list(gdf.attrs.get("notes") or [])
    if crs is None:  # in China, claiming WGS84: do the features sit on the OSM streets?
        from .setup import china_street_offset_note

        offset = china_street_offset_note(store, gdf, source=Path(path).name)
        if offset:
            notes.append(offset)
    if progress:
        progress("writing")
    with store.transaction():
        if layer == "grids":
            written = import_grid_layer(store, gdf, source=str(path))
        elif layer == "cameras":  # each camera's history records the import
            from .cameras import import_cameras

            written = {"cameras": import_cameras(store, gdf, actor="import")["imported"]}
        else:
            written = store.write({layer: gdf}, mode="upsert", source=str(path))
        if project_settings(store).bounds is None and len(gdf):
            store.set_setting("bounds", [float(b) for b in gdf.total_bounds])
    return written, notes


OUTPUT_COLUMNS = ("grid_code", "community_code", "street_code", "district_code", "assignment")


def _to_wgs84(x: np.ndarray, y: np.ndarray, crs) -> tuple[np.ndarray, np.ndarray]:
    if crs == "gcj02":
        return gcj02_to_wgs84(x, y)
    if crs == "bd09":
        return bd09_to_wgs84(x, y)
    if crs.equals(WGS84, ignore_axis_order=True):
        return x, y
    tr = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    return tr.transform(x, y)


def assign_partition(
    df: pd.DataFrame,
    index: GridIndex,
    parents: tuple[pd.DataFrame, pd.DataFrame],
    *,
    lon: str,
    lat: str,
    crs,
    snap_tolerance_m: float,
) -> pd.DataFrame:
    """Grid and hierarchy codes for one partition of rows with coordinates."""
    if isinstance(df, gpd.GeoDataFrame):
        pts = df.geometry.to_crs(WGS84) if df.crs is not None else df.geometry
        lon_v, lat_v = shapely.get_x(pts.values), shapely.get_y(pts.values)
        out = pd.DataFrame(df.drop(columns=df.geometry.name))
    else:
        x = pd.to_numeric(df[lon], errors="coerce").to_numpy(dtype="float64")
        y = pd.to_numeric(df[lat], errors="coerce").to_numpy(dtype="float64")
        lon_v, lat_v = _to_wgs84(x, y, crs)
        out = df.copy()
    tr = pyproj.Transformer.from_crs(WGS84, index.crs, always_xy=True)
    mx, my = tr.transform(lon_v, lat_v)
    finite = np.isfinite(mx) & np.isfinite(my)
    pos = np.full(len(df), -1, dtype=np.int64)
    snapped = np.zeros(len(df), dtype=bool)
    if finite.any():
        res = index.assign(mx[finite], my[finite], snap_tolerance=snap_tolerance_m)
        pos[finite], snapped[finite] = res.position, res.snapped
    codes = np.where(pos >= 0, np.asarray(index.codes, dtype=object)[np.maximum(pos, 0)], "")
    hier = hierarchy_codes(codes, *parents)
    # Typed string columns: object columns would leave dask unable to infer a Parquet schema.
    out["grid_code"] = pd.array(codes, dtype="string")
    for col in ("community_code", "street_code", "district_code"):
        out[col] = pd.array(hier[col].to_numpy(), dtype="string")
    out["assignment"] = pd.array(
        np.where(pos < 0, "unassigned", np.where(snapped, "snapped", "inside")), dtype="string"
    )
    out["lon"], out["lat"] = lon_v, lat_v
    return out


def _read_whole(source: Path) -> pd.DataFrame:
    from gridpatrol.store.files import read_vector_file

    if source.suffix.lower() == ".csv":
        return pd.read_csv(source)
    if source.suffix.lower() in (".parquet", ".geoparquet"):
        return gpd.read_parquet(source)
    return read_vector_file(source)


def _to_geoparquet(df: pd.DataFrame, path: Path) -> None:
    gdf = gpd.GeoDataFrame(df, geometry=shapely.points(df["lon"], df["lat"]), crs=WGS84)
    gdf.to_parquet(path)


def assign_file(
    store: Store,
    source: str | Path,
    output: str | Path,
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    lon: str = "lon",
    lat: str = "lat",
    crs: str | None = None,
    version: int | None = None,
    snap_tolerance_m: float = 30.0,
    blocksize: str = "64MB",
    progress: Callable[[str], None] | None = None,
) -> int:
    """Assign every row of ``source`` to a grid and write GeoParquet to ``output``.

    Parameters
    ----------
    store
        The project whose grids are used.
    source
        CSV with ``lon``/``lat`` columns, or points in GeoParquet, GeoJSON, GeoPackage
        or a zipped Shapefile (those four only without a dask ``scheduler``).
    output
        A GeoParquet file (single process) or a folder of GeoParquet parts (dask).
    scheduler
        None for one process; ``"local"`` for a local cluster of ``n_workers``; or the
        address of a running dask scheduler.
    crs
        CRS of CSV coordinates (default WGS84; gcj02 and bd09 accepted).

    Returns
    -------
    Rows written.
    """
    progress = progress or (lambda step: None)
    source, output = Path(source), Path(output)
    if not source.exists():
        raise InputFileError(f"{source}: no such file")
    from gridpatrol.store.files import SUFFIXES

    suffix = source.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputFileError(
            f"{source}: use CSV, GeoParquet, GeoJSON, GeoPackage or a zipped Shapefile"
        )
    if scheduler is not None and suffix not in (".csv", ".parquet", ".geoparquet"):
        raise InputFileError(f"{source}: with --dask use CSV or GeoParquet (partitioned reads)")
    progress("building the grid index")
    index, grids = grid_index(store, version or active_version(store))
    parents = (
        pd.DataFrame(grids[["code", "parent_code"]]),
        pd.DataFrame(store.read("areas")[["code", "parent_code", "level"]]),
    )
    in_crs = parse_crs(crs or "wgs84")
    kwargs = dict(lon=lon, lat=lat, crs=in_crs, snap_tolerance_m=snap_tolerance_m)
    if scheduler is None:
        progress("assigning")
        df = assign_partition(_read_whole(source), index, parents, **kwargs)
        _to_geoparquet(df, output)
        return len(df)

    import dask
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        progress(f"assigning on {len(client.scheduler_info()['workers'])} dask worker(s)")
        if source.suffix.lower() == ".csv":
            ddf = dd.read_csv(source, blocksize=blocksize)
        else:
            import dask_geopandas

            ddf = dask_geopandas.read_parquet(source)
        shared_index = dask.delayed(index, pure=True)
        shared_parents = dask.delayed(parents, pure=True)
        meta = assign_partition(ddf._meta, index, parents, **kwargs)
        assigned = ddf.map_partitions(
            assign_partition, shared_index, shared_parents, meta=meta, **kwargs
        )
        parts = assigned.map_partitions(
            lambda d: gpd.GeoDataFrame(d, geometry=shapely.points(d["lon"], d["lat"]), crs=WGS84),
            meta=gpd.GeoDataFrame(
                meta, geometry=shapely.points(meta["lon"], meta["lat"]), crs=WGS84
            ),
        )
        import dask_geopandas

        dask_geopandas.from_dask_dataframe(parts).to_parquet(output)
        return int(len(assigned))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
