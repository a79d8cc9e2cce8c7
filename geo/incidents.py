"""Incidents: taxonomy, validation of reports, and assignment to grids.

Validation gives every rejected row a reason: no location, (0, 0), (lat, lon) given as
(lon, lat), far outside the served area, a time in the future or without a timezone, an
unknown category, an address that matches no building. Assignment uses
:class:`gridpatrol.geo.assignment.GridIndex` (its boundary rule is documented there);
points just outside every grid are snapped within a tolerance and flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .assignment import GridIndex
from .crs import WGS84, check_crs, check_lonlat, parse_crs, to_wgs84
from .errors import SchemaError

LEVEL_ORDER = ("grid", "community", "street", "district")
#: phone clocks run a little fast: reports up to this far in the future are accepted
_FUTURE_TOLERANCE = pd.Timedelta(minutes=10)


@dataclass(frozen=True)
class Category:
    """One incident category with its time limits."""

    key: str
    en: str
    zh: str
    respond_minutes: float
    close_hours: float
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    """The categories a project accepts (the default ships in ``gridpatrol.data``)."""

    categories: dict[str, Category]
    _lookup: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: dict) -> Taxonomy:
        cats = {}
        for key, v in data.items():
            if key.startswith("_"):
                continue
            try:
                cats[key] = Category(
                    key,
                    v.get("en", key),
                    v.get("zh", key),
                    float(v["respond_minutes"]),
                    float(v["close_hours"]),
                    tuple(v.get("aliases", ())),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise SchemaError(
                    f"taxonomy category {key!r} needs respond_minutes and close_hours ({exc})"
                ) from exc
        lookup = {}
        for cat in cats.values():
            for name in (cat.key, cat.en, cat.zh, *cat.aliases):
                lookup[name.strip().lower()] = cat.key
        return cls(cats, lookup)

    def to_dict(self) -> dict:
        """The JSON form :meth:`from_dict` reads."""
        return {
            c.key: {
                "en": c.en,
                "zh": c.zh,
                "respond_minutes": c.respond_minutes,
                "close_hours": c.close_hours,
                "aliases": list(c.aliases),
            }
            for c in self.categories.values()
        }

    def resolve(self, value) -> str | None:
        """The category key for a key, name or alias; None when unknown.

        A whole-value match wins; otherwise the longest name or alias whose words appear
        in order inside the value ("AGGRAVATED VEHICULAR HIJACKING" matches the alias
        "vehicular hijacking"; Chinese names match as substrings).
        """
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        text = str(value).strip().lower()
        if text in self._lookup:
            return self._lookup[text]
        words = _words(text)
        best, best_len = None, 0
        for name, key in self._lookup.items():
            name_words = _words(name)
            if not name_words:
                continue
            if _is_cjk(name):
                hit = name in text
                size = len(name)
            else:
                n = len(name_words)
                hit = any(words[i : i + n] == name_words for i in range(len(words) - n + 1))
                size = len(name)
            if hit and size > best_len:
                best, best_len = key, size
        return best


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@dataclass
class PreparedIncidents:
    """Rows that passed validation (WGS84) and rows rejected, each with a reason."""

    accepted: gpd.GeoDataFrame
    rejected: pd.DataFrame  # columns: row, incident_id, reason

    @property
    def ok(self) -> bool:
        return self.rejected.empty


def normalise_address(street, housenumber="") -> str:
    """Lower-case, single-spaced ``street housenumber`` used for exact address matching."""
    text = f"{street or ''} {housenumber or ''}"
    return " ".join(text.lower().replace(",", " ").split())


def prepare_incidents(
    rows: pd.DataFrame,
    *,
    taxonomy: Taxonomy,
    now: pd.Timestamp,
    served_bounds: tuple[float, float, float, float] | None = None,
    max_outside_km: float = 20.0,
    addresses: gpd.GeoDataFrame | None = None,
    default_tz: str | None = None,
    future_tolerance: pd.Timedelta = _FUTURE_TOLERANCE,
) -> PreparedIncidents:
    """Validate incident reports and locate them in WGS84.

    Parameters
    ----------
    rows
        One report per row: ``incident_id``, ``reported_at``, ``category`` and either
        ``lon``/``lat`` (with an optional per-row ``crs``: wgs84, gcj02, bd09, EPSG:n)
        or an ``address``. Other model columns (description, source...) pass through.
    taxonomy
        Accepted categories; names and aliases are mapped to keys.
    now
        The current time; later reports are rejected.
    served_bounds
        WGS84 (min lon, min lat, max lon, max lat) of the served area.
    max_outside_km
        Reports farther than this outside ``served_bounds`` are rejected.
    addresses
        The address layer (WGS84) for reports located by address.
    default_tz
        Time zone for times given without one; None rejects them.
    """
    df = rows.reset_index(drop=True).copy()
    n = len(df)
    # Reasons only for rows that have one: a list per row would cost ~60 MB at 1M rows.
    reasons: dict[int, list[str]] = {}

    def reject(mask, reason):
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            reasons.setdefault(int(i), []).append(reason if isinstance(reason, str) else reason(i))

    if "incident_id" not in df:
        raise SchemaError("incidents need an incident_id column (your own id for each report)")
    ids = df["incident_id"].astype("string")
    reject(ids.isna() | (ids.str.strip() == ""), "incident_id is empty")
    reject(ids.duplicated(keep=False) & ids.notna(), "incident_id appears twice in this batch")

    # -- category -------------------------------------------------------------------
    if "category" in df:
        # Resolve each distinct value once (a batch has a handful of categories).
        codes, uniques = pd.factorize(df["category"], use_na_sentinel=True)
        keys = np.array([taxonomy.resolve(u) for u in uniques] + [None], dtype=object)
        cats = pd.Series(keys[codes], index=df.index, dtype=object)
    else:
        cats = pd.Series([None] * n, dtype=object)
    reject(
        cats.isna(),
        lambda i: (
            f"unknown category {df['category'].iloc[i]!r}; known: " + ", ".join(taxonomy.categories)
            if "category" in df
            else "category is missing"
        ),
    )
    df["category"] = cats

    # -- time -----------------------------------------------------------------------
    raw_times = df["reported_at"] if "reported_at" in df else pd.Series([None] * n)
    times = parse_times(raw_times, default_tz=default_tz, reasons=reasons)
    reject(
        times > now + future_tolerance, lambda i: f"reported_at {times.iloc[i]} is in the future"
    )
    df["reported_at"] = times

    # -- location -------------------------------------------------------------------
    lon = (
        pd.to_numeric(df["lon"], errors="coerce")
        if "lon" in df
        else pd.Series(np.nan, index=df.index)
    )
    lat = (
        pd.to_numeric(df["lat"], errors="coerce")
        if "lat" in df
        else pd.Series(np.nan, index=df.index)
    )
    crs_col = (
        df["crs"].fillna("wgs84").astype(str) if "crs" in df else pd.Series("wgs84", index=df.index)
    )
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    lon_raw = lon.to_numpy(dtype="float64")
    lat_raw = lat.to_numpy(dtype="float64")
    # One coordinate given and the other NaN, or either infinite: not a location at all
    # (both missing means "locate by address").
    lon_nf = np.isinf(lon_raw) | (np.isnan(lon_raw) & ~np.isnan(lat_raw))
    lat_nf = np.isinf(lat_raw) | (np.isnan(lat_raw) & ~np.isnan(lon_raw))
    reject(lon_nf, "lon is not a finite number")
    reject(lat_nf, "lat is not a finite number")
    has_xy = np.isfinite(lon_raw) & np.isfinite(lat_raw)
    geographic = np.zeros(n, dtype=bool)
    for name in crs_col[has_xy].unique():
        sel = has_xy & (crs_col == name).to_numpy()
        try:
            crs = parse_crs(name)
        except ValueError as exc:
            reject(sel, str(exc))
            continue
        geographic[sel] = isinstance(crs, str) or crs.is_geographic
        if not isinstance(crs, str) and crs.equals(WGS84, ignore_axis_order=True):
            # Already WGS84 (most files): no points to build and transform.
            x[sel], y[sel] = lon_raw[sel], lat_raw[sel]
            continue
        pts = gpd.GeoDataFrame(
            geometry=shapely.points(lon[sel].to_numpy(), lat[sel].to_numpy()),
            crs=None if isinstance(crs, str) else crs,
        )
        if isinstance(crs, str):
            out = to_wgs84(pts, crs=crs)
        else:
            if crs.is_geographic:
                out = pts.to_crs(WGS84)
            else:
                out = pts.to_crs(WGS84)
        x[sel] = shapely.get_x(out.geometry.values)
        y[sel] = shapely.get_y(out.geometry.values)
    df["input_crs"] = crs_col.where(has_xy, "address")
    zero = has_xy & (lon.abs().to_numpy() < 1e-9) & (lat.abs().to_numpy() < 1e-9)
    reject(zero, "location is (0, 0): the device had no GPS fix")
    bad_range = has_xy & ~zero & ((np.abs(y) > 90) | (np.abs(x) > 180))
    if served_bounds is not None:
        swapped = (
            has_xy
            & ~zero
            & check_lonlat(x, y, expected_bounds=_grow(served_bounds, max_outside_km))
        )
    else:
        swapped = has_xy & ~zero & check_lonlat(x, y)
    reject(swapped, "lon/lat look swapped: (lat, lon) was given where (lon, lat) was expected")
    lat_out = has_xy & ~zero & ~swapped & geographic & (np.abs(lat_raw) > 90)
    lon_out = has_xy & ~zero & ~swapped & geographic & ~lat_out & (np.abs(lon_raw) > 180)
    reject(lat_out, lambda i: f"latitude {lat_raw[i]:g} is out of range (-90..90)")
    reject(lon_out, lambda i: f"longitude {lon_raw[i]:g} is out of range (-180..180)")
    bad_range &= ~lat_out & ~lon_out
    reject(bad_range & ~swapped, "coordinates are not longitude/latitude in the given CRS")
    if served_bounds is not None:
        minx, miny, maxx, maxy = _grow(served_bounds, max_outside_km)
        outside = (
            has_xy
            & ~zero
            & ~swapped
            & ~bad_range
            & ~lat_out
            & ~lon_out
            & ((x < minx) | (x > maxx) | (y < miny) | (y > maxy))
        )
        reject(
            outside,
            lambda i: (
                f"location ({x[i]:.5f}, {y[i]:.5f}) is more than {max_outside_km:g} km "
                "outside the served area"
            ),
        )

    # -- address --------------------------------------------------------------------
    match_text = np.full(n, "", dtype=object)
    match_score = np.full(n, np.nan)
    needs_address = ~has_xy & ~lon_nf & ~lat_nf
    addr = (
        df["address"].fillna("").astype(str) if "address" in df else pd.Series("", index=df.index)
    )
    no_location = needs_address & (addr.str.strip() == "").to_numpy()
    reject(no_location, "no location: give lon/lat or an address")
    to_match = needs_address & ~no_location
    if to_match.any():
        if addresses is None or len(addresses) == 0:
            reject(to_match, "the project has no address layer to match addresses against")
        else:
            check_crs(addresses, WGS84, what="addresses")
            from .addresses import match_addresses

            positions = np.flatnonzero(to_match)
            found = match_addresses(addr.iloc[positions].tolist(), addresses)
            for i, hit in zip(positions, found, strict=True):
                if hit is None:
                    reasons.setdefault(int(i), []).append(
                        f"address {addr.iloc[i]!r} matches no building address; "
                        "check the spelling or give coordinates"
                    )
                    continue
                pos = hit.position
                match_text[i], match_score[i] = hit.matched, hit.score
                pt = addresses.geometry.iloc[pos]
                x[i], y[i] = pt.x, pt.y

    df["address_match"] = match_text
    df["address_score"] = match_score
    bad = np.zeros(n, dtype=bool)
    bad[list(reasons)] = True
    rejected = pd.DataFrame(
        {
            "row": np.flatnonzero(bad),
            "incident_id": ids[bad].astype(object).to_numpy(),
            "reason": ["; ".join(reasons[i]) for i in np.flatnonzero(bad)],
        }
    )
    good = df[~bad].drop(columns=[c for c in ("lon", "lat", "crs") if c in df])
    accepted = gpd.GeoDataFrame(good, geometry=shapely.points(x[~bad], y[~bad]), crs=WGS84)
    accepted["incident_id"] = accepted["incident_id"].astype(str)
    return PreparedIncidents(accepted.reset_index(drop=True), rejected)


#: A time of day followed by a zone ("…12:30Z", "…12:30:00+08:00"). The zone must follow
#: a time: "2020-12-12" ends in "-12" but is a date in the project's zone, not a zone.
ZONED_TIME_PATTERN = r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"


def zoned_times(text, *, missing: bool = False) -> np.ndarray:
    """Which strings of ``text`` end in a time with a zone (:data:`ZONED_TIME_PATTERN`).

    Matched by Arrow's RE2 in one call (pandas falls back to ``re`` per value for this
    pattern, ~3x slower); missing values give ``missing``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pd.Series(text).to_numpy(dtype=object, na_value=None)
    arr = pa.array(values, type=pa.string(), from_pandas=True)
    found = pc.match_substring_regex(arr, ZONED_TIME_PATTERN).fill_null(missing)
    return found.to_numpy(zero_copy_only=False).astype(bool)


def parse_times(
    values: pd.Series, *, default_tz: str | None, reasons: dict[int, list[str]]
) -> pd.Series:
    """Report times as UTC; rows that cannot be read get a reason in ``reasons``.

    ISO 8601 strings are parsed column-wise (with and without a zone separately, since
    one batch may mix offsets); anything else falls back to ``pd.Timestamp`` per value,
    so every format accepted before is still accepted, and every rejection says why.
    """
    n = len(values)
    values = values.reset_index(drop=True)
    out = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    if n == 0:
        return out
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        out[:] = values.dt.tz_convert("UTC")
        rest = values.isna().to_numpy()
    elif pd.api.types.is_datetime64_dtype(values.dtype) and default_tz is not None:
        local = values.dt.tz_localize(default_tz, ambiguous="NaT", nonexistent="NaT")
        out[:] = local.dt.tz_convert("UTC")
        rest = out.isna().to_numpy()
    else:
        if values.dtype == object:
            kind = pd.api.types.infer_dtype(values, skipna=False)
            is_str = (
                np.ones(n, dtype=bool)
                if kind == "string"
                else values.map(lambda v: isinstance(v, str)).to_numpy(bool)
            )
        elif pd.api.types.is_string_dtype(values.dtype):
            is_str = values.notna().to_numpy()
        else:
            is_str = None
        if is_str is None:
            rest = np.ones(n, dtype=bool)
        else:
            text = values.where(is_str, "").astype(str)
            aware = is_str & zoned_times(text)
            naive = is_str & ~aware
            # positional, tz-aware assignment: a chunk whose times are all unreadable
            # here (non-ISO, e.g. "12/11/2020 11:45:00 PM") is all NaT, left for below
            if aware.any():
                parsed = pd.to_datetime(text[aware], utc=True, format="ISO8601", errors="coerce")
                out.iloc[np.flatnonzero(aware)] = parsed.array
            if naive.any() and default_tz is not None:
                local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
                utc = local.dt.tz_localize(default_tz, ambiguous="NaT", nonexistent="NaT")
                out.iloc[np.flatnonzero(naive)] = utc.dt.tz_convert("UTC").array
            rest = out.isna().to_numpy()
    # Whatever the fast paths did not read goes through the general parser, one by one.
    for i in np.flatnonzero(rest):
        value = values.iloc[i]
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            reasons.setdefault(int(i), []).append(f"reported_at {value!r} is not a date/time")
            continue
        if pd.isna(ts):
            reasons.setdefault(int(i), []).append("reported_at is missing")
            continue
        if ts.tzinfo is None:
            if default_tz is None:
                reasons.setdefault(int(i), []).append(
                    f"reported_at {value!r} has no time zone; add one (e.g. +08:00) "
                    "or set a default time zone"
                )
                continue
            ts = ts.tz_localize(default_tz)
        out.iloc[i] = ts.tz_convert("UTC")
    return out


def _grow(bounds, km: float) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = bounds
    dlat = km / 111.0
    dlon = km / (111.0 * max(np.cos(np.radians((miny + maxy) / 2)), 0.05))
    return (minx - dlon, miny - dlat, maxx + dlon, maxy + dlat)


def hierarchy_codes(
    grid_codes: np.ndarray, grids: pd.DataFrame, areas: pd.DataFrame
) -> pd.DataFrame:
    """Community, street and district codes of each grid code, through the parent chain."""
    parent = dict(zip(grids["code"], grids["parent_code"], strict=True))
    parent.update(dict(zip(areas["code"], areas["parent_code"], strict=True)))
    level = dict(zip(areas["code"], areas["level"], strict=True))
    out = {"community_code": [], "street_code": [], "district_code": []}
    cache: dict[str, tuple[str, str, str]] = {}
    for code in grid_codes:
        if code not in cache:
            found = {"community": "", "street": "", "district": ""}
            cur, seen = parent.get(code, ""), 0
            while cur and seen < 10:
                if level.get(cur) in found:
                    found[level[cur]] = cur
                cur, seen = parent.get(cur, ""), seen + 1
            cache[code] = (found["community"], found["street"], found["district"])
        c, s, d = cache[code]
        out["community_code"].append(c)
        out["street_code"].append(s)
        out["district_code"].append(d)
    return pd.DataFrame(out)


def assign_incidents(
    incidents: gpd.GeoDataFrame,
    index: GridIndex,
    *,
    grids: pd.DataFrame,
    areas: pd.DataFrame,
    snap_tolerance_m: float = 30.0,
) -> pd.DataFrame:
    """Grid, community, street and district codes for each incident.

    Parameters
    ----------
    incidents
        Points in any CRS; projected to the index's CRS.
    index
        Built from ``grids`` in a metric CRS.
    grids, areas
        ``code``/``parent_code`` (and ``level`` for areas) to walk up the hierarchy.
    snap_tolerance_m
        Points outside every grid but this close to one are snapped to it and flagged.

    Returns
    -------
    DataFrame aligned with ``incidents``: grid_code, community_code, street_code,
    district_code, assignment (inside, snapped, unassigned).
    """
    pts = incidents.to_crs(index.crs)
    result = index.assign(
        shapely.get_x(pts.geometry.values),
        shapely.get_y(pts.geometry.values),
        snap_tolerance=snap_tolerance_m,
    )
    pos = result.position
    codes = np.where(pos >= 0, np.asarray(index.codes, dtype=object)[np.maximum(pos, 0)], "")
    state = np.where(pos < 0, "unassigned", np.where(result.snapped, "snapped", "inside"))
    out = hierarchy_codes(codes, grids, areas)
    out.insert(0, "grid_code", codes)
    out["assignment"] = state
    out.index = incidents.index
    return out
