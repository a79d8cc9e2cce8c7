"""The one rule for planners limited to some communities or streets.

A planner token made with ``gridpatrol token create --role planner --community CODE``
(or with ``{"communities": [...]}`` / ``{"streets": [...]}`` as its scope) may only write
grid versions whose every grid lies under those codes (the grid's code or its parent
code starts with one of them: codes are hierarchical, street > community > grid), and
plan patrols only for an area code under them. Anything else raises
:class:`~gridpatrol.geo.errors.OutOfScopeError` (403), naming the allowed codes.

Every other principal (admins, unscoped planners, the CLI with no principal) is not
limited here; the role rules themselves are in :mod:`gridpatrol.api.auth`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from gridpatrol.geo.errors import OutOfScopeError
from gridpatrol.store.base import Store

from .tokens import Principal

#: Scope keys that limit a planner (both hold area codes).
SCOPE_KEYS = ("communities", "streets")


def allowed_codes(principal: Principal | None) -> tuple[str, ...] | None:
    """The code prefixes a scoped planner may write under, or None when not limited."""
    if principal is None or principal.role != "planner":
        return None
    codes = [str(c) for key in SCOPE_KEYS for c in (principal.scope.get(key) or ())]
    return tuple(sorted(set(codes))) or None


def _under(code, prefixes: tuple[str, ...]) -> bool:
    return isinstance(code, str) and bool(code) and code.startswith(prefixes)


def _refuse(what: str, outside: Iterable[str], prefixes: tuple[str, ...]) -> OutOfScopeError:
    shown = sorted(set(outside))
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return OutOfScopeError(
        f"{what}: {', '.join(shown[:10])}{more} not under this token's communities/streets; "
        f"it may only change codes under {', '.join(prefixes)} (ask an admin for a wider token)"
    )


def check_codes(principal: Principal | None, codes: Iterable, *, what: str) -> None:
    """Every code in ``codes`` must lie under the principal's scope."""
    prefixes = allowed_codes(principal)
    if prefixes is None:
        return
    outside = [str(c) for c in codes if not _under(c, prefixes)]
    if outside:
        raise _refuse(what, outside, prefixes)


def check_grids(principal: Principal | None, grids: pd.DataFrame, *, what: str) -> None:
    """Every grid (row with ``code`` and ``parent_code``) lies under the scope: its code
    or its parent code starts with an allowed code."""
    prefixes = allowed_codes(principal)
    if prefixes is None:
        return
    codes = grids["code"] if "code" in grids.columns else pd.Series([None] * len(grids))
    parents = (
        grids["parent_code"] if "parent_code" in grids.columns else pd.Series([None] * len(grids))
    )
    outside = [
        str(c)
        for c, p in zip(codes, parents, strict=True)
        if not (_under(c, prefixes) or _under(p, prefixes))
    ]
    if outside:
        raise _refuse(what, outside, prefixes)


def check_version(store: Store, principal: Principal | None, version: int, *, what: str) -> None:
    """Every grid of a stored version lies under the scope (a version holding other
    communities' grids is theirs too)."""
    if allowed_codes(principal) is None:
        return
    grids = store.read("grids", where={"version": int(version)})
    check_grids(principal, grids, what=f"{what} (version {version} holds grids)")


def check_grid_file(principal: Principal | None, path: Path, *, what: str) -> None:
    """The grids of an uploaded file lie under the scope (read only for scoped planners)."""
    if allowed_codes(principal) is None:
        return
    from gridpatrol.store.files import load_layer_file

    grids = load_layer_file(path, "grids", layer_name="grids")
    check_grids(principal, grids, what=what)


def check_plan_area(
    principal: Principal | None, *, area_code: str | None, area: dict | None
) -> None:
    """A scoped planner plans patrols for an area code under the scope, nothing wider."""
    prefixes = allowed_codes(principal)
    if prefixes is None:
        return
    if area is not None or not area_code:
        raise OutOfScopeError(
            "this token is limited to communities/streets: plan by area_code, one of the codes "
            f"under {', '.join(prefixes)} (not a drawn area or the whole project)"
        )
    check_codes(principal, [area_code], what="patrol plan area")
