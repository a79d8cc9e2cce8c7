"""CPU-heavy work in a helper process, so it does not hold the server's GIL.

The service answers requests on one event loop; a thread computing a page or storing a
batch of reports with pandas holds the GIL for tens of milliseconds at a time, and every
request waiting meanwhile pays for it (at 200 reports/s that was seconds of latency).
:func:`run` sends such work to a small process pool instead (``processes`` helper
processes, started on first use and kept), so the server process only waits on a
future. With ``processes=0`` the work runs in the calling thread, as before.

The functions sent must be importable module-level functions with picklable
arguments and results; each opens its own store from a URL (connections do not cross
processes). An exception raised there is raised here (as :class:`OffloadError` with
the original message when it cannot be pickled).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from gridpatrol.geo.errors import GridPatrolError

T = TypeVar("T")

#: name -> (executor, processes): writes and pages in separate processes, so a page
#: being drawn never delays the next batch of reports.
_POOLS: dict[str, tuple[Any, int]] = {}
_GUARD = threading.Lock()


class OffloadError(GridPatrolError):
    """Work in the helper process failed with an error that could not be sent back."""


def _pool(name: str, processes: int):
    with _GUARD:
        pool, size = _POOLS.get(name, (None, 0))
        if pool is None or size != processes:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=False)
            if not _POOLS:  # the first pool: all are stopped cleanly at exit
                import atexit

                atexit.register(_shutdown)
            # spawn: a fresh interpreter, not a fork of a process that runs threads.
            pool = ProcessPoolExecutor(
                processes,
                mp_context=mp.get_context("spawn"),
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )
            _POOLS[name] = (pool, processes)
        return pool


def _watch_parent(parent: int) -> None:
    """In a helper process: exit when the server process is gone (killed, not stopped
    cleanly), instead of lingering with its imports in memory."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="gridpatrol-parent-watch", daemon=True).start()


def _shutdown() -> None:
    with _GUARD:
        pools = [p for p, _ in _POOLS.values()]
        _POOLS.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def _reset(name: str, broken) -> None:
    with _GUARD:
        if _POOLS.get(name, (None, 0))[0] is broken:
            del _POOLS[name]


def _call(fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
    # In the helper process: exceptions that pickle go back as they are.
    import pickle

    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - a custom __init__ that pickle cannot rebuild
            raise OffloadError(f"{type(exc).__name__}: {exc}") from None
        raise


def run(
    fn: Callable[..., T], *args: Any, processes: int = 1, pool: str = "writes", **kwargs: Any
) -> T:
    """``fn(*args, **kwargs)`` in a process of the helper pool ``pool`` (blocking the
    calling thread only). ``writes``: what writes the store (one process, so the
    embedded store has one writer); ``pages``: what only reads.

    With ``processes=0``, or when the helper process died, runs here instead.
    """
    if processes <= 0:
        return fn(*args, **kwargs)
    from concurrent.futures.process import BrokenProcessPool

    executor = _pool(pool, processes)
    try:
        return executor.submit(_call, fn, args, kwargs).result()
    except BrokenProcessPool:  # killed (out of memory?): start afresh next time
        _reset(pool, executor)
        return fn(*args, **kwargs)


def warm(fn: Callable[..., Any], *args: Any, processes: int = 1, pool: str = "writes") -> None:
    """Start the helper processes of ``pool`` and run ``fn(*args)`` in each, not waiting
    for it (imports and caches a first request would otherwise pay for)."""
    if processes > 0:
        executor = _pool(pool, processes)
        for _ in range(processes):
            executor.submit(_call, fn, args, {})
