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

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from gridpatrol.geo.errors import GridPatrolError

T = TypeVar("T")

_POOL = None
_POOL_SIZE = 0
_GUARD = threading.Lock()


class OffloadError(GridPatrolError):
    """Work in the helper process failed with an error that could not be sent back."""


def _pool(processes: int):
    global _POOL, _POOL_SIZE
    with _GUARD:
        if _POOL is None or _POOL_SIZE != processes:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            if _POOL is not None:
                _POOL.shutdown(wait=False, cancel_futures=False)
            # spawn: a fresh interpreter, not a fork of a process that runs threads.
            _POOL = ProcessPoolExecutor(processes, mp_context=mp.get_context("spawn"))
            if not _POOL_SIZE:  # first pool: stopped cleanly at exit, before teardown
                import atexit

                atexit.register(_shutdown)
            _POOL_SIZE = processes
        return _POOL


def _shutdown() -> None:
    with _GUARD:
        if _POOL is not None:
            _POOL.shutdown(wait=True, cancel_futures=True)


def _reset(broken) -> None:
    global _POOL
    with _GUARD:
        if _POOL is broken:
            _POOL = None


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


def run(fn: Callable[..., T], *args: Any, processes: int = 1, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a helper process (blocking the calling thread only).

    With ``processes=0``, or when the helper process died, runs here instead.
    """
    if processes <= 0:
        return fn(*args, **kwargs)
    from concurrent.futures.process import BrokenProcessPool

    pool = _pool(processes)
    try:
        return pool.submit(_call, fn, args, kwargs).result()
    except BrokenProcessPool:  # killed (out of memory?): start afresh next time
        _reset(pool)
        return fn(*args, **kwargs)


def warm(fn: Callable[..., Any], *args: Any, processes: int = 1) -> None:
    """Start the helper processes and run ``fn(*args)`` in each, not waiting for it
    (imports and caches a first request would otherwise pay for)."""
    if processes > 0:
        pool = _pool(processes)
        for _ in range(processes):
            pool.submit(_call, fn, args, {})
