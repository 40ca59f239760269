"""The model a scoring server answers with, following the registry.

A server started on ``models:/name@alias``, ``models:/name/Stage`` or
``models:/name/latest`` re-resolves that URI every ``poll_interval`` seconds. When a
promotion, an alias move or a rollback points it at another version, the new version
is loaded in a background thread while the old one keeps answering, then swapped in
with one assignment: no request fails and none waits for the load.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import MLTrackError
from ..uris import parse_models_uri

if TYPE_CHECKING:
    from ..entities import ModelVersion
    from ..models import PyFuncModel
    from ..tracking.client import Client

log = logging.getLogger("jupyter_mltrack.serving")


@dataclass(frozen=True)
class LoadedModel:
    """One loaded model and what the registry said about it when it was loaded."""

    model: PyFuncModel
    uri: str
    source: str
    name: str | None = None
    version: int | None = None
    stage: str | None = None
    aliases: tuple[str, ...] = ()
    run_id: str | None = None
    loaded_at: float = 0.0

    @property
    def version_label(self) -> str:
        """The version number as text, or ``""`` for a model outside the registry."""
        return "" if self.version is None else str(self.version)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for ``/metadata``."""
        import json

        sig = self.model.signature
        signature = None
        if sig is not None:
            signature = {part: (json.loads(text) if text else None)
                         for part, text in sig.to_dict().items()}
        return {
            "name": self.name, "version": self.version, "stage": self.stage,
            "aliases": list(self.aliases), "run_id": self.run_id, "source": self.source,
            "flavor": self.model.flavor, "signature": signature,
            "loaded_at": dt.datetime.fromtimestamp(self.loaded_at, dt.timezone.utc)
            .isoformat(timespec="seconds"),
        }


def follows_registry(uri: str) -> bool:
    """Whether ``uri`` names a moving target (an alias, a stage or ``latest``)."""
    if not uri.startswith("models:/"):
        return False
    return parse_models_uri(uri).version is None


class ServedModel:
    """Holds the current model; for a moving ``models:/`` URI, polls and swaps."""

    def __init__(self, model_uri: str | os.PathLike[str], *, client: Client | None = None,
                 trust: bool = False, poll_interval: float = 5.0):
        self.uri = os.fspath(model_uri)
        self.client = client
        self.trust = trust
        self.poll_interval = float(poll_interval)
        self.follows = follows_registry(self.uri)
        self.last_error: str | None = None
        self.last_check: float | None = None
        self._failed_version: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.current: LoadedModel = self._load(self._resolve() if self.uri.startswith(
            "models:/") else None)

    # -- loading -------------------------------------------------------------------------

    def _resolve(self) -> ModelVersion:
        from ..registry import model_version_for

        return model_version_for(self.uri, client=self.client)

    def _load(self, version: ModelVersion | None) -> LoadedModel:
        from ..models import load_model

        if version is None:
            model = load_model(self.uri, trust=self.trust, client=self.client, progress=False)
            return LoadedModel(model, self.uri, self.uri, loaded_at=time.time())
        model = load_model(version.uri, trust=self.trust, client=self.client, progress=False)
        return LoadedModel(model, self.uri, version.source, version.name, version.version,
                           version.current_stage, tuple(version.aliases), version.run_id,
                           time.time())

    def check(self) -> bool:
        """Re-resolve the URI once; load and swap in a new version. True if it swapped."""
        if not self.follows:
            return False
        with self._lock:
            self.last_check = time.time()
            try:
                version = self._resolve()
            except MLTrackError as exc:
                self._note(f"could not resolve {self.uri}: {exc}; still serving version "
                           f"{self.current.version_label}")
                return False
            if version.version == self.current.version or \
                    version.version == self._failed_version:
                self.last_error = None if version.version == self.current.version \
                    else self.last_error
                return False
            log.info(_event("loading", uri=self.uri, version=version.version,
                            previous=self.current.version))
            started = time.perf_counter()
            try:
                loaded = self._load(version)
            except Exception as exc:  # noqa: BLE001 - the old version keeps serving
                self._failed_version = version.version
                self._note(f"version {version.version} of {version.name!r} did not load "
                           f"({type(exc).__name__}: {exc}); still serving version "
                           f"{self.current.version_label}")
                return False
            previous = self.current
            self.current = loaded
            self._failed_version = None
            self.last_error = None
            log.info(_event("swapped", uri=self.uri, version=loaded.version,
                            previous=previous.version,
                            load_ms=round((time.perf_counter() - started) * 1000, 1)))
            return True

    def _note(self, message: str) -> None:
        if message != self.last_error:
            log.warning(_event("follow_error", uri=self.uri, message=message))
        self.last_error = message

    # -- the polling thread --------------------------------------------------------------

    def start(self) -> None:
        """Start following the registry (nothing to do for a fixed URI)."""
        if not self.follows or self.poll_interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="mltrack-serving-follow",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - the poller must outlive any failure
                self._note(f"registry check failed: {type(exc).__name__}: {exc}")


def _event(event: str, **fields: Any) -> str:
    import json

    return json.dumps({"event": event, **fields}, default=str)
