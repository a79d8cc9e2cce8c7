"""Domain errors.

Every error is a small ``ValueError`` subclass whose message says what was wrong
and what to do about it. ``api/errors.py`` maps each class to one HTTP status;
the CLI prints the message as it is.
"""

from __future__ import annotations


class GridPatrolError(ValueError):
    """Base class of every domain error."""


class CRSError(GridPatrolError):
    """A CRS is missing, unknown, geographic where metres are needed, or mismatched."""


class InvalidGeometryError(GridPatrolError):
    """A geometry is empty, invalid (self-intersecting...) or of the wrong type."""


class SwappedCoordinatesError(GridPatrolError):
    """Coordinates look like (lat, lon) where (lon, lat) was expected."""


class SchemaError(GridPatrolError):
    """A layer lacks a required column or a value has the wrong type."""


class InputFileError(GridPatrolError):
    """A file cannot be read: broken JSON, unknown format, truncated archive..."""


class NotFoundError(GridPatrolError):
    """A named object (layer, grid, version, team...) does not exist."""


class ConflictError(GridPatrolError):
    """A write would overwrite someone else's newer change."""


class ConfirmationRequired(ConflictError):
    """A change with known problems needs an explicit confirmation (``problems`` lists them)."""

    def __init__(self, message: str, problems: list[dict]) -> None:
        super().__init__(message)
        self.problems = problems


class InfeasiblePlanError(GridPatrolError):
    """A solver cannot produce a plan for the inputs it was given."""


class StoreError(GridPatrolError):
    """The store cannot be opened or its schema is newer than this release."""


class StoreBusyError(StoreError):
    """The store stayed locked by other writers past the timeout: try again shortly."""

    retry_after_s = 1


class OutOfScopeError(GridPatrolError):
    """A token limited to some communities or streets asked to change something outside them."""
