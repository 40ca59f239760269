"""Reads an MLflow ``mlruns/`` folder (MLflow's FileStore layout), never writing to it.

``<experiment id>/meta.yaml`` and ``tags/``; ``<experiment id>/<run id>/meta.yaml``,
``params/``, ``tags/`` and ``metrics/`` (one ``timestamp value step`` line per point;
keys with ``/`` are sub-folders); deleted experiments in ``.trash/``; the registry in
``models/<name>/`` with ``meta.yaml``, ``tags/``, ``aliases/`` and ``version-<n>/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..errors import ForeignStore, InvalidParameter
from ..store.mlflow_source import (
    MetricHistory,
    MlflowExperiment,
    MlflowModel,
    MlflowModelVersion,
    MlflowRun,
)

#: MLflow's FileStore writes run status as the number of its RunStatus enum.
_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_DELETED_VERSION = "Deleted_Internal"


def _meta(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ForeignStore(f"Cannot read MLflow's {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _values(folder: Path) -> dict[str, str]:
    """Files under ``folder`` (recursively) as key -> content; keys use ``/``."""
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root, name)
            key = path.relative_to(folder).as_posix()
            out[key] = path.read_text(encoding="utf-8")
    return out


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


class MlflowFileSource:
    """An ``mlruns/`` folder, read-only (an ``MlflowSource``)."""

    def __init__(self, root: str | os.PathLike[str]):
        text = str(root)
        if text.startswith("file://"):
            text = text[len("file://"):]
        self.root = Path(text)
        if not self.root.is_dir():
            raise InvalidParameter(f"There is no mlruns folder at {self.root}; check the path.")
        if not any((p / "meta.yaml").is_file() for p in self.root.iterdir() if p.is_dir()):
            raise ForeignStore(
                f"{self.root} is not an MLflow mlruns folder (no <experiment id>/meta.yaml); "
                "give the folder MLflow's file:// tracking URI names."
            )
        self._run_dirs: dict[str, Path] = {}

    def describe(self) -> str:
        return str(self.root)

    def _experiment_dirs(self) -> list[Path]:
        dirs = [p for p in self.root.iterdir() if p.is_dir() and (p / "meta.yaml").is_file()]
        trash = self.root / ".trash"
        if trash.is_dir():
            dirs += [p for p in trash.iterdir() if p.is_dir() and (p / "meta.yaml").is_file()]
        return dirs

    def experiments(self) -> list[MlflowExperiment]:
        out = []
        self._by_id: dict[str, Path] = {}
        for folder in self._experiment_dirs():
            meta = _meta(folder / "meta.yaml")
            exp_id = str(meta.get("experiment_id", folder.name))
            self._by_id[exp_id] = folder
            out.append(MlflowExperiment(
                experiment_id=exp_id, name=str(meta.get("name", exp_id)),
                artifact_location=str(meta.get("artifact_location") or ""),
                lifecycle_stage=str(meta.get("lifecycle_stage") or "active"),
                creation_time=_int(meta.get("creation_time")),
                last_update_time=_int(meta.get("last_update_time")),
                tags=_values(folder / "tags"),
            ))
        out.sort(key=lambda e: (e.creation_time or 0, e.experiment_id))
        return out

    def runs(self, experiment_id: str) -> Iterator[MlflowRun]:
        if not hasattr(self, "_by_id"):
            self.experiments()
        folder = self._by_id[experiment_id]
        found = []
        for run_dir in folder.iterdir():
            if not (run_dir / "meta.yaml").is_file() or not run_dir.is_dir():
                continue
            meta = _meta(run_dir / "meta.yaml")
            run_id = str(meta.get("run_id") or meta.get("run_uuid") or run_dir.name)
            self._run_dirs[run_id] = run_dir
            tags = _values(run_dir / "tags")
            status = meta.get("status", 1)
            found.append(MlflowRun(
                run_id=run_id, experiment_id=experiment_id,
                run_name=str(meta.get("run_name") or tags.get("mlflow.runName", "")),
                status=_STATUS.get(status, str(status)) if isinstance(status, int)
                else str(status),
                start_time=_int(meta.get("start_time")), end_time=_int(meta.get("end_time")),
                lifecycle_stage=str(meta.get("lifecycle_stage") or "active"),
                user_id=str(meta.get("user_id") or ""),
                artifact_uri=str(meta.get("artifact_uri") or ""),
                params=_values(run_dir / "params"), tags=tags,
            ))
        found.sort(key=lambda r: (r.start_time or 0, r.run_id))
        yield from found

    def metric_histories(self, run_id: str) -> list[MetricHistory]:
        import numpy as np

        folder = self._run_dirs[run_id] / "metrics"
        out = []
        for key, text in sorted(_values(folder).items()):
            rows = [line.split() for line in text.splitlines() if line.strip()]
            stamps = np.array([int(r[0]) for r in rows], dtype=np.int64)
            values = np.array([float(r[1]) for r in rows], dtype=np.float64)
            steps = np.array([int(r[2]) if len(r) > 2 else 0 for r in rows], dtype=np.int64)
            out.append(MetricHistory(key, steps, values, stamps))
        return out

    def registered_models(self) -> list[MlflowModel]:
        models_dir = self.root / "models"
        if not models_dir.is_dir():
            return []
        out = []
        for folder in sorted(p for p in models_dir.iterdir() if (p / "meta.yaml").is_file()):
            meta = _meta(folder / "meta.yaml")
            name = str(meta.get("name", folder.name))
            aliases = {str(k): int(v) for k, v in (meta.get("aliases") or {}).items()}
            for alias, text in _values(folder / "aliases").items():
                aliases.setdefault(alias, int(text.strip()))
            versions = []
            for vdir in folder.glob("version-*"):
                vmeta = _meta(vdir / "meta.yaml")
                stage = str(vmeta.get("current_stage") or "None")
                if stage == _DELETED_VERSION:
                    continue
                versions.append(MlflowModelVersion(
                    name=name, version=int(vmeta["version"]),
                    source=str(vmeta.get("source") or ""),
                    run_id=vmeta.get("run_id") or None, current_stage=stage,
                    creation_time=_int(vmeta.get("creation_timestamp")),
                    last_updated_time=_int(vmeta.get("last_updated_timestamp")),
                    user_id=str(vmeta.get("user_id") or ""),
                    description=vmeta.get("description"), tags=_values(vdir / "tags"),
                ))
            versions.sort(key=lambda v: v.version)
            out.append(MlflowModel(
                name=name, creation_time=_int(meta.get("creation_timestamp")),
                last_updated_time=_int(meta.get("last_updated_timestamp")),
                description=meta.get("description"), tags=_values(folder / "tags"),
                aliases=aliases, versions=versions,
            ))
        return out

    def close(self) -> None:
        pass
