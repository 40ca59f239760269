"""Reads an MLflow tracking server through its REST API (no ``mlflow`` package needed).

Only reading routes are called: ``experiments/search``, ``runs/search``,
``metrics/get-history``, ``artifacts/list`` and the UI's ``get-artifact`` download,
``registered-models/search`` and ``model-versions/search``. Every list is paged.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from ..errors import ArtifactUnavailable, InvalidParameter, StoreError
from ..store.mlflow_source import (
    ArtifactFile,
    MetricHistory,
    MlflowExperiment,
    MlflowModel,
    MlflowModelVersion,
    MlflowRun,
)

API = "/api/2.0/mlflow"
PAGE = 1000
TIMEOUT_S = 60.0


def _tags(items: Any) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in items or []}


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


class MlflowRestSource:
    """An MLflow tracking server, read-only (an ``MlflowSource`` with ``HasArtifacts``).

    ``MLFLOW_TRACKING_TOKEN`` or ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` authenticate,
    as they do for MLflow's own client.
    """

    def __init__(self, url: str):
        if not url.startswith(("http://", "https://")):
            raise InvalidParameter(f"{url!r} is not a tracking server URL (http://...).")
        self.url = url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif user:
            import base64

            pair = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        self._runs: dict[str, MlflowRun] = {}
        self._metric_keys: dict[str, list[str]] = {}

    def describe(self) -> str:
        return self.url

    # -- HTTP --------------------------------------------------------------------------

    def _send(self, path: str, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> bytes:
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(
                {k: v for k, v in params.items() if v is not None}, doseq=True)
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers,  # noqa: S310
                                         method="POST" if data is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode(errors="replace")
            raise StoreError(f"The MLflow server at {self.url} answered {exc.code} to "
                             f"{path}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise StoreError(f"Cannot reach the MLflow server at {self.url}: "
                             f"{getattr(exc, 'reason', exc)}; check the URL and that it "
                             "runs.") from exc

    def _json(self, path: str, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = json.loads(self._send(path, params, body) or b"{}")
        return answer if isinstance(answer, dict) else {}

    def _paged(self, path: str, field: str, params: dict[str, Any] | None = None,
               body: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            if body is not None:
                page = self._json(path, body={**body, "page_token": token})
            else:
                page = self._json(path, params={**(params or {}), "page_token": token})
            yield from page.get(field, [])
            token = page.get("next_page_token")
            if not token:
                return

    # -- tracking ----------------------------------------------------------------------

    def experiments(self) -> list[MlflowExperiment]:
        return [
            MlflowExperiment(
                experiment_id=str(e["experiment_id"]), name=e["name"],
                artifact_location=e.get("artifact_location", ""),
                lifecycle_stage=e.get("lifecycle_stage", "active"),
                creation_time=_int(e.get("creation_time")),
                last_update_time=_int(e.get("last_update_time")), tags=_tags(e.get("tags")))
            for e in self._paged(f"{API}/experiments/search", "experiments",
                                 body={"max_results": PAGE, "view_type": "ALL"})
        ]

    def runs(self, experiment_id: str) -> Iterator[MlflowRun]:
        for r in self._paged(f"{API}/runs/search", "runs",
                             body={"experiment_ids": [experiment_id], "max_results": PAGE,
                                   "run_view_type": "ALL",
                                   "order_by": ["attributes.start_time ASC"]}):
            info, data = r["info"], r.get("data", {})
            run = MlflowRun(
                run_id=info.get("run_id") or info["run_uuid"],
                experiment_id=str(info["experiment_id"]), run_name=info.get("run_name", ""),
                status=info.get("status", "FINISHED"), start_time=_int(info.get("start_time")),
                end_time=_int(info.get("end_time")),
                lifecycle_stage=info.get("lifecycle_stage", "active"),
                user_id=info.get("user_id", ""), artifact_uri=info.get("artifact_uri", ""),
                params=_tags(data.get("params")), tags=_tags(data.get("tags")),
            )
            self._runs[run.run_id] = run
            self._metric_keys[run.run_id] = sorted(m["key"] for m in data.get("metrics", []))
            yield run

    def metric_histories(self, run_id: str) -> list[MetricHistory]:
        import numpy as np

        out = []
        for key in self._metric_keys.get(run_id, []):
            points = list(self._paged(f"{API}/metrics/get-history", "metrics",
                                      params={"run_id": run_id, "metric_key": key}))
            out.append(MetricHistory(
                key,
                np.array([int(p.get("step", 0)) for p in points], dtype=np.int64),
                np.array([float(p.get("value", 0.0)) for p in points], dtype=np.float64),
                np.array([int(p.get("timestamp", 0)) for p in points], dtype=np.int64),
            ))
        return out

    # -- artifacts ---------------------------------------------------------------------

    def artifact_files(self, run: MlflowRun) -> Iterator[ArtifactFile]:
        folders = [""]
        while folders:
            folder = folders.pop()
            for f in self._paged(f"{API}/artifacts/list", "files",
                                 params={"run_id": run.run_id, "path": folder or None}):
                if f.get("is_dir"):
                    folders.append(f["path"])
                else:
                    yield ArtifactFile(f["path"], _int(f.get("file_size")))

    def read_artifact(self, run: MlflowRun, path: str) -> bytes:
        try:
            return self._send("/get-artifact", params={"path": path, "run_uuid": run.run_id})
        except StoreError as exc:
            raise ArtifactUnavailable(f"Cannot download artifact {path!r} of run "
                                      f"{run.run_id}: {exc}") from exc

    # -- registry ----------------------------------------------------------------------

    def registered_models(self) -> list[MlflowModel]:
        out = []
        for m in self._paged(f"{API}/registered-models/search", "registered_models",
                             params={"max_results": PAGE}):
            name = m["name"]
            quoted = name.replace("'", "\\'")
            versions = [
                MlflowModelVersion(
                    name=name, version=int(v["version"]), source=v.get("source", ""),
                    run_id=v.get("run_id") or None,
                    current_stage=v.get("current_stage", "None"),
                    creation_time=_int(v.get("creation_timestamp")),
                    last_updated_time=_int(v.get("last_updated_timestamp")),
                    user_id=v.get("user_id", ""), description=v.get("description"),
                    tags=_tags(v.get("tags")))
                for v in self._paged(f"{API}/model-versions/search", "model_versions",
                                     params={"filter": f"name = '{quoted}'",
                                             "max_results": 200_000})
            ]
            versions.sort(key=lambda v: v.version)
            out.append(MlflowModel(
                name=name, creation_time=_int(m.get("creation_timestamp")),
                last_updated_time=_int(m.get("last_updated_timestamp")),
                description=m.get("description"), tags=_tags(m.get("tags")),
                aliases={a["alias"]: int(a["version"]) for a in m.get("aliases", [])},
                versions=versions))
        return out

    def close(self) -> None:
        pass
