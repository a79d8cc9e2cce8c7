"""The assignment index of a grid version: built once, cached in memory and on disk."""

from __future__ import annotations

import geopandas as gpd

from gridpatrol.geo.assignment import GridIndex
from gridpatrol.geo.errors import NotFoundError
from gridpatrol.store.base import Store

_INDEX_CACHE: dict[tuple, tuple[GridIndex, gpd.GeoDataFrame]] = {}
#: Layers an assignment index depends on (project: the metric CRS setting).
_INDEX_SOURCES = ("grids", "grid_versions", "project")


def grid_index(store: Store, version: int) -> tuple[GridIndex, gpd.GeoDataFrame]:
    """The assignment index of a grid version, and its grids.

    Cached per store, version and revision of the grids (in memory: a warm lookup is
    one small query), and persisted beside an embedded store's file
    (``.project.db.index/``), so a new process (every CLI run, every worker) loads it in
    a fraction of the seconds a build of thousands of grids takes.
    """
    revs = tuple(store.revisions(*_INDEX_SOURCES).values())
    key = (store.url, version, revs)
    if key in _INDEX_CACHE:
        return _INDEX_CACHE[key]
    grids = store.read("grids", where={"version": version})
    if grids.empty:
        raise NotFoundError(f"grid version {version} has no grids: import or propose grids first")
    index = _load_index(store, version, revs)
    if index is None:
        metric = grids.to_crs(store.metric_crs(grids))
        index = GridIndex.from_geodataframe(metric, code_column="code")
        _save_index(store, version, revs, index)
    if len(_INDEX_CACHE) > 8:
        _INDEX_CACHE.clear()
    _INDEX_CACHE[key] = (index, grids)
    return index, grids


def _index_path(store: Store, version: int, revs: tuple):
    from pathlib import Path

    path = getattr(store, "path", None)
    if path is None:  # PostGIS: kept in memory per process
        return None
    tag = "-".join(str(r) for r in revs)
    store_file = Path(path)  # a hidden folder beside it: nothing else named like the store
    return store_file.parent / f".{store_file.name}.index" / f"grids-v{version}-r{tag}.pickle"


def _load_index(store: Store, version: int, revs: tuple) -> GridIndex | None:
    import pickle

    path = _index_path(store, version, revs)
    if path is None or not path.exists():
        return None
    try:
        # Our own file beside the store, written by _save_index; as trusted as the store.
        index = pickle.loads(path.read_bytes())
    except Exception:  # noqa: BLE001 - a damaged or foreign file: rebuild instead
        return None
    return index if isinstance(index, GridIndex) else None


def _save_index(store: Store, version: int, revs: tuple, index: GridIndex) -> None:
    import os
    import pickle

    path = _index_path(store, version, revs)
    if path is None:
        return
    try:
        path.parent.mkdir(exist_ok=True)
        for old in path.parent.glob(f"grids-v{version}-r*.pickle"):
            old.unlink(missing_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)  # atomic: another process never reads half a file
    except OSError:  # read-only folder: the in-memory cache still works
        pass
