"""Read user files (GeoJSON, GeoPackage, Shapefile, GeoParquet) into model layers.

Reading is done by pyogrio (and pyarrow for GeoParquet). Every problem is raised with
the file's name; validation of features is left to the model's validator, which names
the feature.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from gridpatrol.geo.crs import WGS84, CRSLike, check_lonlat, parse_crs, to_wgs84
from gridpatrol.geo.errors import CRSError, InputFileError, SwappedCoordinatesError
from gridpatrol.geo.model import get_layer, validate_layer

SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".parquet", ".geoparquet", ".csv")
#: Column names tried, in order, for coordinates and WKT in CSV files.
LON_NAMES = ("lon", "lng", "long", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape")
#: Rough box around China, where web-map coordinates are GCJ-02 or BD-09, not WGS84.
CHINA_BOX = (73.5, 18.0, 135.1, 53.6)


def pick_column(columns, wanted: str | None, names: tuple[str, ...]) -> str | None:
    if wanted:
        return wanted if wanted in columns else None
    lower = {str(c).lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def read_csv_points(
    path: Path,
    *,
    lon: str | None = None,
    lat: str | None = None,
    wkt: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a CSV with lon/lat columns or a WKT column; the CRS is left unset.

    Column names are found case-insensitively (lon/lng/longitude/x, lat/latitude/y,
    wkt/geometry) unless given.
    """
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputFileError(f"{path}: cannot read it as CSV ({exc})") from exc
    wkt_col = pick_column(df.columns, wkt, WKT_NAMES)
    if wkt_col is not None and not (lon or lat):
        try:
            geoms = shapely.from_wkt(df[wkt_col].fillna("").replace("", None).to_numpy())
        except shapely.errors.GEOSException as exc:
            raise InputFileError(f"{path}: column {wkt_col!r} is not WKT ({exc})") from exc
        return gpd.GeoDataFrame(df.drop(columns=wkt_col), geometry=geoms)
    x, y = pick_column(df.columns, lon, LON_NAMES), pick_column(df.columns, lat, LAT_NAMES)
    if x is None or y is None:
        raise InputFileError(
            f"{path}: no coordinate columns; name them with --lon/--lat or a WKT column with "
            f"--wkt (found: {', '.join(map(str, df.columns))})"
        )
    xs = pd.to_numeric(df[x], errors="coerce").to_numpy()
    ys = pd.to_numeric(df[y], errors="coerce").to_numpy()
    return gpd.GeoDataFrame(df, geometry=shapely.points(xs, ys))


def china_warning(gdf: gpd.GeoDataFrame, source: str) -> str | None:
    """A warning when WGS84 features sit inside China, where most web maps use GCJ-02."""
    if not len(gdf) or gdf.crs is None or not gdf.crs.equals(WGS84):
        return None
    minx, miny, maxx, maxy = gdf.total_bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    x0, y0, x1, y1 = CHINA_BOX
    if not (x0 <= cx <= x1 and y0 <= cy <= y1):
        return None
    return (
        f"{source}: the data lies in China and claims WGS84. Coordinates from AMap, Tencent "
        "or Gaode are GCJ-02 and from Baidu BD-09, stored as WGS84 they sit 300-700 m off "
        "the OSM streets; if that is where they came from, import again with --crs gcj02 "
        "(or --crs bd09)"
    )


#: Files a Shapefile (or other allowed format) zip may hold; anything else is refused.
ZIP_MEMBERS = (
    ".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".xml", ".txt",
    ".geojson", ".json", ".gpkg", ".csv", ".parquet", ".geoparquet",
)  # fmt: skip

# GDAL never goes to the network for us: no /vsicurl/ (or other remote) files at all.
pyogrio.set_gdal_config_options(
    {
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".gridpatrol-no-network",
        "GDAL_HTTP_TIMEOUT": "1",
        "GDAL_VRT_ENABLE_PYTHON": "NO",
    }
)


def check_safe_source(path: Path) -> None:
    """Refuse what would make GDAL read other files or the network.

    GDAL opens more than plain files: connection strings (``CSV:/etc/passwd``), virtual
    paths (``/vsicurl/``, ``/vsizip/`` ...) and VRT files that point at other paths or
    URLs. Uploads are plain files from an allow-list of formats; a zip may only hold
    the members of those formats, and no VRT.

    Raises
    ------
    InputFileError
    """
    import re
    import zipfile

    text = str(path)
    if re.match(r"^[A-Za-z0-9_]{2,}:", text) or "/vsi" in text.lower():
        raise InputFileError(f"{text}: GDAL connection strings and /vsi paths are not files")
    suffix = path.suffix.lower()
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                names = [i.filename for i in z.infolist() if not i.is_dir()]
        except zipfile.BadZipFile as exc:
            raise InputFileError(f"{path}: not a zip file ({exc})") from exc
        bad = [n for n in names if not n.lower().endswith(ZIP_MEMBERS)]
        if bad:
            raise InputFileError(
                f"{path}: the zip holds {bad[0]!r}; a zip may hold a Shapefile (or one "
                "GeoJSON/GeoPackage/CSV/GeoParquet file), never a VRT or other files"
            )
        return
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if head.startswith(b"<") or b"OGRVRTDataSource" in head:
        raise InputFileError(f"{path}: XML/VRT files are not accepted")


def read_vector_file(
    path: str | Path,
    *,
    crs: CRSLike | None = None,
    layer_name: str | None = None,
    lon: str | None = None,
    lat: str | None = None,
    wkt: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector file, keeping or overriding its CRS (``gcj02``/``bd09`` accepted).

    GeoJSON, GeoPackage, Shapefile (or a zip of one), GeoParquet, and CSV with lon/lat
    or WKT columns (CSV without ``crs`` is read as WGS84). Notes for the user (a
    conversion done, coordinates in China claiming WGS84) are in ``gdf.attrs["notes"]``.

    Raises
    ------
    InputFileError
        Unknown format, missing or unreadable file, broken JSON.
    CRSError
        The file declares no CRS and none is given.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    check_safe_source(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputFileError(
            f"{path}: unknown format {suffix!r}; use GeoJSON, GeoPackage, zipped Shapefile, "
            "GeoParquet or CSV"
        )
    if suffix in (".geojson", ".json"):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{path}: not UTF-8 text ({exc})") from exc
        except json.JSONDecodeError as exc:
            raise InputFileError(
                f"{path}: broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
    notes: list[str] = []
    try:
        if suffix == ".csv":
            gdf = read_csv_points(path, lon=lon, lat=lat, wkt=wkt)
            if crs is None:
                gdf = gdf.set_crs(WGS84)
                notes.append(f"{path.name}: CSV coordinates read as WGS84 (EPSG:4326)")
        elif suffix in (".parquet", ".geoparquet"):
            gdf = gpd.read_parquet(path)
        else:
            layers = pyogrio.list_layers(path)[:, 0] if suffix == ".gpkg" else []
            layer = layer_name if layer_name in layers else None
            gdf = gpd.read_file(path, engine="pyogrio", layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputFileError(f"{path}: cannot read it ({exc})") from exc
    except (ValueError, OSError) as exc:
        raise InputFileError(f"{path}: cannot read it ({exc})") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputFileError(f"{path}: the layer has no geometry column")
    if crs is not None:
        target = parse_crs(crs)
        declared = None if gdf.crs is None else gdf.crs.to_string()
        if isinstance(target, str):
            gdf = to_wgs84(gdf.set_crs(None, allow_override=True), crs=target)
            notes.append(
                f"{path.name}: converted {len(gdf)} feature(s) from {target.upper()} to WGS84"
                + (f" (the file declared {declared}; --crs overrides it)" if declared else "")
            )
        else:
            if declared and not gdf.crs.equals(target):
                notes.append(
                    f"{path.name}: read as {target.to_string()} (--crs), "
                    f"not the declared {declared}"
                )
            gdf = gdf.set_crs(target, allow_override=True)
    elif gdf.crs is None:
        raise CRSError(
            f"{path}: the file declares no CRS; pass it with --crs (EPSG:4326, gcj02, bd09...)"
        )
    else:
        warning = china_warning(gdf, path.name)
        if warning:
            notes.append(warning)
    gdf.attrs["notes"] = notes
    return gdf


def map_columns(gdf: gpd.GeoDataFrame, columns: dict[str, str], *, source: str):
    """Rename file columns to model columns (``{"code": "dist_num"}``); values are copied
    so one file column can feed two model columns."""
    missing = [src for src in columns.values() if src not in gdf.columns]
    if missing:
        raise InputFileError(
            f"{source}: no column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, gdf.columns))})"
        )
    out = gdf.copy()
    for model, src in columns.items():
        if model in out.columns and model != src:
            out = out.drop(columns=model)
        out[model] = gdf[src].to_numpy()
    return out


def make_ids(df, id_columns: list[str], *, source: str):
    """Ids from one or more columns joined with ``:``, or row numbers for ``["@row"]``.

    Raises
    ------
    InputFileError
        A named column is missing, or the columns still repeat an id.
    """
    import pandas as pd

    if id_columns == ["@row"]:
        return pd.Series([f"row:{i + 1}" for i in range(len(df))], index=df.index)
    missing = [c for c in id_columns if c not in df.columns]
    if missing:
        raise InputFileError(
            f"{source}: no id column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, df.columns))})"
        )
    ids = df[id_columns[0]].astype(str)
    for col in id_columns[1:]:
        ids = ids + ":" + df[col].astype(str)
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise InputFileError(
            f"{source}: {int(dup.sum())} rows share an id made from {' + '.join(id_columns)} "
            f"(first: {ids[dup].iloc[0]!r}); add a column to the id (--id a,b) or number "
            "the rows (--id @row)"
        )
    return ids


def check_in_area(
    gdf: gpd.GeoDataFrame,
    area_bounds: tuple[float, float, float, float] | None,
    *,
    source: str,
    margin_deg: float = 0.5,
) -> None:
    """Raise when WGS84 features look swapped (lat, lon) relative to the project's area."""
    if area_bounds is None or len(gdf) == 0:
        return
    minx, miny, maxx, maxy = area_bounds
    box = (minx - margin_deg, miny - margin_deg, maxx + margin_deg, maxy + margin_deg)
    centres = shapely.centroid(gdf.geometry.values)
    x, y = shapely.get_x(centres), shapely.get_y(centres)
    swapped = check_lonlat(x, y, expected_bounds=box)
    if swapped.mean() > 0.5:
        pos = int(np.flatnonzero(swapped)[0])
        raise SwappedCoordinatesError(
            f"{source}: feature {pos} lies at lon {x[pos]:.4f}, lat {y[pos]:.4f}, outside the "
            f"project area, but swapping gives a point inside it: the file has (lat, lon); "
            "swap the axes and import again"
        )


def load_layer_file(
    path: str | Path,
    layer: str,
    *,
    crs: CRSLike | None = None,
    area_bounds: tuple[float, float, float, float] | None = None,
    defaults: dict | None = None,
    layer_name: str | None = None,
    columns: dict[str, str] | None = None,
    id_columns: list[str] | None = None,
    lon: str | None = None,
    lat: str | None = None,
    wkt: str | None = None,
    where: dict[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Read ``path`` and validate it as ``layer``, in WGS84.

    Notes for the user are in ``out.attrs["notes"]``.

    Parameters
    ----------
    path
        The file.
    layer
        Model layer name: grids, buildings, cameras...
    crs
        The CRS of the coordinates when the file has none or a wrong one.
    area_bounds
        The project's WGS84 bounds, to catch swapped coordinates.
    defaults
        Column values for columns the file lacks, e.g. ``{"version": 2}``.
    columns
        Model column -> file column, e.g. ``{"code": "dist_num", "name": "dist_label"}``.
    id_columns
        File columns whose values, joined with ``:``, make the layer's id (for sources
        whose own id repeats); ``["@row"]`` numbers the rows instead.
    lon, lat, wkt
        CSV coordinate or WKT columns (found by name when not given).
    where
        Keep only rows whose file column equals the value (as text), e.g.
        ``{"level": "district"}``.
    """
    gdf = read_vector_file(path, crs=crs, layer_name=layer_name, lon=lon, lat=lat, wkt=wkt)
    notes = list(gdf.attrs.get("notes", []))
    for col, value in (where or {}).items():
        if col not in gdf.columns:
            raise InputFileError(
                f"{path}: no column {col!r} to filter on "
                f"(found: {', '.join(map(str, gdf.columns))})"
            )
        before = len(gdf)
        gdf = gdf[gdf[col].astype(str) == str(value)]
        notes.append(f"{Path(path).name}: kept {len(gdf)} of {before} rows where {col} = {value}")
    gdf = map_columns(gdf, columns or {}, source=str(path))
    if id_columns:
        key = next(c for c in get_layer(layer).key if c != "version")
        gdf[key] = make_ids(gdf, id_columns, source=str(path))
        notes.append(f"{path.name}: ids made from {' + '.join(id_columns)}")
    for column, value in (defaults or {}).items():
        if column not in gdf.columns:
            gdf[column] = value
    out = validate_layer(gdf, layer, source=str(path))
    check_in_area(out, area_bounds, source=str(path))
    out.attrs["notes"] = notes
    if out.crs is None or not out.crs.equals(WGS84):  # pragma: no cover - validate_layer ensures it
        raise CRSError(f"{path}: could not bring the layer to WGS84")
    return out
