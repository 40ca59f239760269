"""Persistence of experiments, runs and the registry.

``open_store(uri)`` picks a backend by the URI's scheme. Backends register
through :func:`register_store`, the built-in SQL store included, so a new one
(the team server's REST store, say) is one module and one call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..errors import InvalidParameter
from .changes import (
    AliasChange,
    DecisionChange,
    LifecycleChange,
    PolicyChange,
    RegistryChange,
    RegistryPlan,
    RegistrySnapshot,
    RequestChange,
    StageChange,
)
from .protocols import (
    HasRegistry,
    ImportsRuns,
    ImportsVersions,
    MetricBatch,
    MetricRow,
    MetricSeries,
    RegistryStore,
    TrackingStore,
    WritesMetricBatches,
)

__all__ = [
    "AliasChange", "DecisionChange", "HasRegistry", "ImportsRuns", "ImportsVersions",
    "LifecycleChange", "MetricBatch", "MetricRow", "MetricSeries",
    "PolicyChange", "RegistryChange", "RegistryPlan", "RegistrySnapshot", "RegistryStore",
    "RequestChange", "StageChange", "StoreFactory", "TrackingStore", "WritesMetricBatches",
    "close_stores", "is_open", "open_store", "register_store", "registry_store",
]

#: ``factory(uri, artifact_root)``: a backend's constructor.
StoreFactory = Callable[[str, "str | None"], TrackingStore]

_FACTORIES: dict[str, StoreFactory] = {}
_OPEN: dict[tuple[str, str | None], TrackingStore] = {}
_LOCK = threading.Lock()


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Register ``factory(uri, artifact_root)`` as the store for URIs of ``scheme``."""
    _FACTORIES[scheme] = factory


def _sql_store(uri: str, artifact_root: str | None) -> TrackingStore:
    from .sql import SqlStore

    return SqlStore(uri, artifact_root)


def _rest_store(uri: str, artifact_root: str | None) -> TrackingStore:
    from .rest import RestStore

    return RestStore(uri, artifact_root)


for _scheme in ("sqlite", "postgresql"):
    register_store(_scheme, _sql_store)
for _scheme in ("http", "https"):
    register_store(_scheme, _rest_store)


def open_store(uri: str, artifact_root: str | None = None) -> TrackingStore:
    """The store for a resolved tracking URI; one instance per URI in a process."""
    key = (uri, artifact_root)
    store = _OPEN.get(key)
    if store is not None:
        return store
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    factory = _FACTORIES.get(scheme)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES))
        raise InvalidParameter(
            f"No store for {scheme!r} URIs here; known schemes: {known} "
            "(sqlite:///path/mltrack.db, postgresql://user@host/db, http(s)://team-server)."
        )
    with _LOCK:
        store = _OPEN.get(key)
        if store is None:
            store = _OPEN[key] = factory(uri, artifact_root)
    return store


def is_open(uri: str, artifact_root: str | None = None) -> bool:
    """Whether this process has opened the store of ``uri`` already."""
    return (uri, artifact_root) in _OPEN


def close_stores() -> None:
    """Dispose every open store (tests use this between databases)."""
    with _LOCK:
        for store in _OPEN.values():
            close = getattr(store, "close", None)
            if close is not None:
                close()
        _OPEN.clear()


def registry_store(tracking_store: TrackingStore) -> RegistryStore:
    """The registry store that goes with an open tracking store.

    A backend offers a registry by implementing :class:`HasRegistry` (a
    ``registry_store()`` method); the SQL store's registry shares its database.
    """
    if isinstance(tracking_store, HasRegistry):
        return tracking_store.registry_store()
    raise InvalidParameter(
        f"The store {tracking_store!r} has no model registry; use a SQLite or PostgreSQL "
        "tracking URI for the registry."
    )
