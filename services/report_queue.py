"""Group commit of single incident reports arriving at once (see :class:`ReportQueue`)."""

from __future__ import annotations

import pandas as pd

from .incidents import IngestResult, ReportRejected, ingest_incidents


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
    processes.
    """

    def __init__(self, *, max_rows: int = 1000) -> None:
        import threading

        self.max_rows = max_rows
        self._cond = threading.Condition()
        self._pending: list[dict] = []
        self._thread: threading.Thread | None = None
        self._threading = threading

    def submit(self, url: str, row: dict, *, actor: str = "api", callback) -> None:
        """Queue one report; ``callback(result, error)`` runs on the worker thread."""
        with self._cond:
            self._pending.append({"url": url, "row": row, "actor": actor, "callback": callback})
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
                same = item["url"] == first["url"] and item["actor"] == first["actor"]
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
        from gridpatrol.store.base import open_store

        rows = pd.DataFrame([item["row"] for item in batch])
        with open_store(batch[0]["url"]) as store:
            result = ingest_incidents(store, rows, partial=True, actor=batch[0]["actor"])
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


#: The process's report queue (see :class:`ReportQueue`).
REPORT_QUEUE = ReportQueue()
