"""``serve(uri)`` from a notebook: the scoring server in the background, and its handle."""

from __future__ import annotations

import html
import json
import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from ..errors import MLTrackError
from .app import DEFAULT_MAX_BODY, ScoringApp
from .follow import ServedModel
from .server import ServerThread

if TYPE_CHECKING:
    from ..tracking.client import Client


class ScoringFailed(MLTrackError):
    """The scoring server refused a request or the model failed; ``status`` says how."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status
        self.http_status = status


class ModelServer:
    """A running scoring server: ``.url``, ``.predict(df)``, ``.metadata()``, ``.stop()``."""

    def __init__(self, thread: ServerThread, served: ServedModel):
        self._thread = thread
        self._served = served
        self.url = f"http://{thread.host}:{thread.port}"

    @property
    def model_uri(self) -> str:
        return self._served.uri

    @property
    def version(self) -> int | None:
        """The registry version answering now (None for a model outside the registry)."""
        return self._served.current.version

    @property
    def running(self) -> bool:
        return self._thread.alive

    def predict(self, data: Any, params: dict[str, Any] | None = None,
                timeout: float = 60.0) -> Any:
        """Score ``data`` (DataFrame, array, records, dict of columns) through the server.

        Returns a numpy array (or a DataFrame, for models that return tables).
        """
        body = request_body(data, params)
        answer = self._request("/invocations", body, timeout)
        return _predictions(answer["predictions"])

    def metadata(self) -> dict[str, Any]:
        """The server's ``/metadata``: URI, the version answering, signature."""
        return self._request("/metadata", None, 10.0)

    def check(self) -> bool:
        """Re-resolve the registry URI now instead of waiting for the next poll."""
        return self._served.check()

    def stop(self) -> None:
        """Stop the server and the registry polling; the port is free afterwards."""
        self._thread.stop()
        self._served.stop()

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _request(self, path: str, body: bytes | None, timeout: float) -> Any:
        request = urllib.request.Request(  # noqa: S310 - always our own http:// url
            self.url + path, data=body, method="POST" if body is not None else "GET",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", str(exc))
            except ValueError:
                message = str(exc)
            raise ScoringFailed(message, exc.code) from None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        version = f" version {self.version}" if self.version is not None else ""
        return f"<ModelServer {self.model_uri}{version} at {self.url} ({state})>"

    def _repr_html_(self) -> str:
        current = self._served.current
        rows = [("URL", f"<a href='{self.url}/metadata' target='_blank'>{self.url}</a>"),
                ("Model", html.escape(self.model_uri)),
                ("Version", html.escape(str(current.version or "—"))),
                ("Flavor", html.escape(current.model.flavor)),
                ("Follows registry", "yes" if self._served.follows else "no"),
                ("State", "running" if self.running else "stopped")]
        cells = "".join(f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>"
                        f"{v}</td></tr>" for k, v in rows)
        return f"<table><caption style='text-align:left'>Scoring server</caption>{cells}</table>"


def serve(model_uri: str | os.PathLike[str], port: int | None = None, host: str = "127.0.0.1",
          *, trust: bool = False, poll_interval: float = 2.0, client: Client | None = None,
          max_body_bytes: int = DEFAULT_MAX_BODY) -> ModelServer:
    """Serve a model in the background of this process; returns a :class:`ModelServer`.

    ``port=None`` takes any free port. A ``models:/name@alias`` or ``models:/name/Stage``
    URI follows the registry: a promotion swaps the served version within
    ``poll_interval`` seconds.
    """
    served = ServedModel(model_uri, client=client, trust=trust, poll_interval=poll_interval)
    thread = ServerThread(ScoringApp(served, max_body_bytes=max_body_bytes), host, port)
    thread.start()
    return ModelServer(thread, served)


def request_body(data: Any, params: dict[str, Any] | None = None) -> bytes:
    """A JSON scoring request for a DataFrame, an array, records or a dict of columns."""
    import numpy as np
    import pandas as pd

    from .protocol import to_jsonable

    payload: dict[str, Any]
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        payload = {"dataframe_split": json.loads(data.to_json(
            orient="split", index=False, date_format="iso", default_handler=str))}
    elif isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        payload = {"dataframe_records": to_jsonable(data)}
    elif isinstance(data, (dict, list, tuple, np.ndarray)):
        payload = {"inputs": to_jsonable(data)}
    else:
        raise MLTrackError(
            f"Cannot send {type(data).__name__} to a scoring server; pass a DataFrame, a numpy "
            "array, a list of records or a dict of columns."
        )
    if params:
        payload["params"] = params
    return json.dumps(payload).encode()


def _predictions(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return pd.DataFrame.from_records(value)
    if isinstance(value, list):
        return np.asarray(value)
    return value
