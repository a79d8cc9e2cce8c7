"""Responses cached per data revision, with ETags.

A tile, a report or a page depends on a few layers; :meth:`Store.revisions` tells, in
one small query, how often each was changed. The cache key holds those numbers, so a
write to any of them makes the next request compute afresh (on every worker: the
numbers live in the store), and nothing else has to remember to invalidate. The ETag
is derived from the same key, so a client revalidating gets a 304 without the body
being computed at all.

In memory, per process, least recently used first out; cachetools would do the same
but is not a dependency, and this is twenty lines.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class RevisionCache:
    """A thread-safe LRU of computed values keyed by (what, revisions)."""

    def __init__(self, max_items: int = 20_000) -> None:
        self.max_items = max_items
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = compute()  # outside the lock: two misses of one key compute twice, harmlessly
        with self._lock:
            self.misses += 1
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def revision_etag(key: Hashable) -> str:
    """A strong ETag for a response determined by ``key`` (which holds the revisions)."""
    return '"r' + hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    return bool(if_none_match) and (
        if_none_match.strip() == "*" or etag in [t.strip() for t in if_none_match.split(",")]
    )


#: Layers no page shows (logs and credentials): their changes keep a page's ETag.
UNSHOWN_LAYERS = frozenset({"audit_log", "api_tokens", "embed_tokens"})


def page_revisions(store) -> tuple[int, ...]:
    """The revision of every layer a page may show, in one query (a page key's part)."""
    return tuple(v for k, v in sorted(store.revisions().items()) if k not in UNSHOWN_LAYERS)


def cached_html(key: Hashable, compute: Callable[[], str], *, cache: RevisionCache, if_none_match):
    """An HTML page for ``key`` (which holds the revisions): 304 when the client has it,
    from ``cache`` when this process drew it already, else ``compute()``.

    The ETag is weak: the security middleware gives each answer its own script nonce,
    so two answers for one key are equivalent, not byte-identical.
    """
    from starlette.responses import HTMLResponse, Response

    etag = "W/" + revision_etag(key)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Language"}
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return HTMLResponse(cache.get_or_compute(key, compute), headers=headers)
