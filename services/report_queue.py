"""Group commit of single incident reports arriving at once (see :class:`ReportQueue`)."""

from __future__ import annotations

from gridpatrol.lazy import lazy_import

from . import offload

# on first use: the service answers before pandas loads (gridpatrol.lazy)
IngestResult = lazy_import("gridpatrol.services.incidents", "IngestResult")
ReportRejected = lazy_import("gridpatrol.services.incidents", "ReportRejected")


class ReportQueue:
    """Group commit for single reports arriving concurrently.

    Each ``POST /api/incidents`` costs about the same fixed overhead (validation frames,
    assignment, one transaction) whether it carries one row or a hundred. Reports that
    arrive while a batch is being stored wait and are stored together in the next one,
    one transaction per batch; each caller still gets its own answer (created, updated,
    unchanged, or its own rejection). Rows of one batch have distinct ids (a repeated
    id waits for the next batch, so it updates instead of being rejected as a
    duplicate) and the same store and actor. A batch that fails as a whole is retried
    row by row, so one report never fails another.

    One worker thread per process; the database still serialises writers across
    processes. With ``processes`` above 0 the batch is stored by a helper process
    (:mod:`gridpatrol.services.offload`): pandas work there does not hold the server's
    GIL while it answers other requests.
    """

    def __init__(self, *, max_rows: int = 1000) -> None:
        import threading

        self.max_rows = max_rows
        self._cond = threading.Condition()
        self._pending: list[dict] = []
        self._thread: threading.Thread | None = None
        self._threading = threading

    def submit(
        self, url: str, row: dict, *, actor: str = "api", callback, processes: int = 0
    ) -> None:
        """Queue one report; ``callback(result, error)`` runs on the worker thread."""
        with self._cond:
            self._pending.append(
                {
                    "url": url,
                    "row": row,
                    "actor": actor,
                    "callback": callback,
                    "processes": processes,
                }
            )
            if self._thread is None or not self._thread.is_alive():
                self._thread = self._threading.Thread(
                    target=self._run, name="gridpatrol-report-queue", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _take(self) -> list[dict]:
        with self._cond:
            while not self._pending:
                self._cond.wait()
            first = self._pending[0]
            batch, rest, ids = [], [], set()
            for item in self._pending:
                iid = str(item["row"].get("incident_id"))
                same = all(item[k] == first[k] for k in ("url", "actor", "processes"))
                if same and iid not in ids and len(batch) < self.max_rows:
                    batch.append(item)
                    ids.add(iid)
                else:
                    rest.append(item)
            self._pending = rest
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            try:
                self._store(batch)
            except Exception as exc:  # noqa: BLE001 - answered to each caller below
                if len(batch) == 1:
                    batch[0]["callback"](None, exc)
                    continue
                for item in batch:  # one bad report must not fail the others
                    try:
                        self._store([item])
                    except Exception as exc1:  # noqa: BLE001
                        item["callback"](None, exc1)

    @staticmethod
    def _store(batch: list[dict]) -> None:
        first = batch[0]
        result = offload.run(
            store_batch,
            first["url"],
            [item["row"] for item in batch],
            actor=first["actor"],
            processes=first["processes"],
        )
        rejected = {int(r["row"]): r for r in result.rejected}
        sets = {
            name: set(getattr(result, name))
            for name in ("created", "updated", "unchanged", "unassigned", "snapped")
        }
        for pos, item in enumerate(batch):
            iid = str(item["row"].get("incident_id"))
            if pos in rejected:
                # one report: just its reason (no batch wording about rows or partial=true)
                item["callback"](None, ReportRejected(str(rejected[pos]["reason"])))
                continue
            own = IngestResult(**{name: [iid] if iid in ids else [] for name, ids in sets.items()})
            item["callback"](own, None)


def store_batch(url: str, rows: list[dict], *, actor: str) -> IngestResult:
    """Store one batch of single reports (partially: each row stands alone)."""
    import pandas as pd

    from gridpatrol.store.base import open_store

    from .incidents import ingest_incidents

    with open_store(url) as store:
        return ingest_incidents(store, pd.DataFrame(rows), partial=True, actor=actor)


class _Rollback(Exception):
    pass


AUDIT_TEXT = ("actor", "role", "action", "detail")


def warm_up(url: str) -> None:
    """Store one made-up report and roll it back: the first real batch then finds the
    grid index loaded, the CRS tables read and every module imported (seconds, once)."""
    import pandas as pd

    from gridpatrol.store.base import open_store

    from .incidents import ingest_incidents
    from .project import project_settings, project_taxonomy

    with open_store(url) as store:
        bounds = project_settings(store).bounds
        categories = list(project_taxonomy(store).categories)
        if not bounds or not categories:
            return
        row = {
            "incident_id": "warm-up",
            "reported_at": pd.Timestamp.now(tz="UTC").isoformat(),
            "category": categories[0],
            "lon": (bounds[0] + bounds[2]) / 2,
            "lat": (bounds[1] + bounds[3]) / 2,
            "crs": "wgs84",
        }
        try:
            with store.transaction():
                ingest_incidents(store, pd.DataFrame([row]), partial=True, actor="warm-up")
                audit = {"audit_id": "warm-up", "at": pd.Timestamp.now(tz="UTC"), "status": 0}
                store.write(
                    {"audit_log": pd.DataFrame([{**dict.fromkeys(AUDIT_TEXT, ""), **audit}])},
                    mode="append",
                    source="audit log",
                )
                raise _Rollback
        except _Rollback:
            pass


#: The process's report queue (see :class:`ReportQueue`).
REPORT_QUEUE = ReportQueue()
