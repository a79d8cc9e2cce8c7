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
from gridpatrol.geo.model import validate_layer

SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".parquet", ".geoparquet")
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
    path: str | Path, *, crs: CRSLike | None = None, layer_name: str | None = None
) -> gpd.GeoDataFrame:
    """Read a vector file, keeping or overriding its CRS (``gcj02``/``bd09`` accepted).

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
            f"{path}: unknown format {suffix!r}; use GeoJSON, GeoPackage, Shapefile or GeoParquet"
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
    try:
        if suffix in (".parquet", ".geoparquet"):
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
        if isinstance(target, str):
            gdf = to_wgs84(gdf.set_crs(None, allow_override=True), crs=target)
        else:
            gdf = gdf.set_crs(target, allow_override=True)
    elif gdf.crs is None:
        raise CRSError(
            f"{path}: the file declares no CRS; pass it with --crs (EPSG:4326, gcj02, bd09...)"
        )
    return gdf


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
) -> gpd.GeoDataFrame:
    """Read ``path`` and validate it as ``layer``, in WGS84.

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
    """
    gdf = read_vector_file(path, crs=crs, layer_name=layer_name)
    for column, value in (defaults or {}).items():
        if column not in gdf.columns:
            gdf[column] = value
    out = validate_layer(gdf, layer, source=str(path))
    check_in_area(out, area_bounds, source=str(path))
    if out.crs is None or not out.crs.equals(WGS84):  # pragma: no cover - validate_layer ensures it
        raise CRSError(f"{path}: could not bring the layer to WGS84")
    return out
