"""Modules imported on first use, so that ``gridpatrol serve`` starts in a second or two.

The service's routers, and the store and services they call, need pandas, geopandas,
shapely, folium, scipy or networkx only inside handlers; importing them when the app is
built cost seconds before the first answer. ``pd = lazy_module("pandas")`` binds a name
that imports pandas the first time one of its attributes is read, so function bodies
stay as they are (``pd.DataFrame(...)``) and only the import line changes.

Why not ``lazy_loader.load`` (scientific-python): it is built on
``importlib.util.LazyLoader``, whose first attribute access is not thread-safe before
CPython 3.12.3 (python/cpython#114763: a second thread can see the half-loaded module),
and handlers run in a thread pool. Here the import goes through
:func:`importlib.import_module`, which holds the module's import lock, so a second thread
waits for the module to finish loading.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """A stand-in for module ``name`` that imports it when an attribute is first read.

    Parameters
    ----------
    name
        The module's full name, as ``import`` takes it (``"shapely.geometry"``).
    """

    __slots__ = ("_lazy_name", "_lazy_module")

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_lazy_name", name)
        object.__setattr__(self, "_lazy_module", None)

    def _load(self) -> ModuleType:
        module = self._lazy_module
        if module is None:
            module = importlib.import_module(self._lazy_name)
            object.__setattr__(self, "_lazy_module", module)
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        # tests monkeypatch module functions through the name they see
        setattr(self._load(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._load(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._load())

    def __repr__(self) -> str:
        state = "loaded" if self._lazy_module is not None else "not loaded yet"
        return f"<lazy module {self._lazy_name!r}, {state}>"


class LazyAttribute:
    """A stand-in for ``module.attr`` (a function or an object) that imports ``module`` on
    first use: calling it, or reading one of its attributes.

    Not for classes or constants a module reads when it is imported (``except``,
    ``isinstance``, defaults in signatures): import those from a light module instead.

    Parameters
    ----------
    module
        The module's full name.
    attr
        The name inside it.
    """

    __slots__ = ("_lazy_module", "_lazy_attr", "_lazy_target")

    def __init__(self, module: str, attr: str) -> None:
        object.__setattr__(self, "_lazy_module", module)
        object.__setattr__(self, "_lazy_attr", attr)
        object.__setattr__(self, "_lazy_target", None)

    def _load(self) -> Any:
        target = self._lazy_target
        if target is None:
            target = getattr(importlib.import_module(self._lazy_module), self._lazy_attr)
            object.__setattr__(self, "_lazy_target", target)
        return target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._load()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __repr__(self) -> str:
        return f"<lazy {self._lazy_module}.{self._lazy_attr}>"


def lazy_module(name: str) -> Any:
    """Return ``name`` itself when it is already imported, else a :class:`LazyModule`.

    Parameters
    ----------
    name
        The module's full name.

    Returns
    -------
    module or LazyModule
        Use it as the module: ``pd = lazy_module("pandas")``; ``pd.DataFrame(...)``.
    """
    import sys

    module = sys.modules.get(name)
    return module if module is not None else LazyModule(name)


def lazy_import(module: str, attr: str) -> Any:
    """Return ``module.attr`` when ``module`` is already imported, else a
    :class:`LazyAttribute` that imports it on first use.

    Parameters
    ----------
    module
        The module's full name.
    attr
        A function or object in it (``render_grids``, ``REPORT_QUEUE``).

    Returns
    -------
    object or LazyAttribute
        Call it or read its attributes as the real one: ``render_grids(...)``.
    """
    import sys

    loaded = sys.modules.get(module)
    if loaded is not None and hasattr(loaded, attr):
        return getattr(loaded, attr)
    return LazyAttribute(module, attr)
