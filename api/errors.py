"""One table from domain errors to HTTP statuses.

The user sees the domain error's message (it says what to do); anything else is logged
and answered with a generic 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gridpatrol.geo import errors as e

log = logging.getLogger("gridpatrol.api")

STATUS: dict[type[e.GridPatrolError], int] = {
    e.NotFoundError: 404,
    e.ConflictError: 409,
    e.OutOfScopeError: 403,
    e.CRSError: 422,
    e.InvalidGeometryError: 422,
    e.SwappedCoordinatesError: 422,
    e.SchemaError: 422,
    e.InputFileError: 422,
    e.InfeasiblePlanError: 422,
    e.StoreError: 503,
    e.StoreBusyError: 503,  # with Retry-After: the write can simply be sent again
}


def status_for(exc: e.GridPatrolError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.GridPatrolError)
    async def domain_error(request: Request, exc: e.GridPatrolError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        content = {"error": type(exc).__name__, "detail": str(exc)}
        problems = getattr(exc, "problems", None)
        if problems is not None:  # e.g. activating a draft with validation problems
            content["problems"] = problems
        rejected = getattr(exc, "rejected", None)
        if rejected is not None:  # a refused batch: say what is wrong with every row
            content["rejected"] = [
                {"row": int(r["row"]), "incident_id": r["incident_id"], "reason": r["reason"]}
                for r in rejected.to_dict("records")
            ]
        headers = None
        if isinstance(exc, e.StoreBusyError):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse(status_code=status, content=content, headers=headers)
