"""The model folder: the ``MLmodel`` YAML file and what it says about the model.

A folder written here is an MLflow model folder: ``mlflow.pyfunc.load_model`` and the
matching ``mlflow.<flavor>.load_model`` load it without this package installed, and so
do the serving platforms that load MLflow folders. Field names, file layouts and loader
modules are MLflow's wherever MLflow has the concept; what only this package uses lives
in fields MLflow ignores (``module_class``, ``state_dict``, ``keras_backend``,
``mltrack_version``...)::

    artifact_path: model
    flavors:
      python_function: {loader_module: mlflow.sklearn, model_path: model.skops,
                        env: {conda: conda.yaml, virtualenv: python_env.yaml}, ...}
      sklearn: {pickled_model: model.skops, serialization_format: skops,
                skops_trusted_types: [], ...}
    model_uuid: 5b6c...
    run_id: 0a1b...
    saved_input_example_info: {artifact_path: input_example.json, type: dataframe, ...}
    signature: {inputs: '[...]', outputs: '[...]', params: null}
    utc_time_created: '2025-01-01 12:00:00.000000'

Per flavor (see each flavor module for the details):

* sklearn: MLflow's own layout, also for skops (MLflow reads ``pickled_model:
  model.skops`` with ``serialization_format: skops``). MLflow trusts the
  ``skops_trusted_types`` the MLmodel lists; this package does not: it asks the skops
  file which types it holds and needs ``trust=True`` for any that skops does not trust.
* xgboost, lightgbm: ``model_class`` as a dotted path; a LightGBM scikit-learn wrapper
  is one skops file (``data: model.skops``).
* pytorch: TorchScript as it is; any other module as its state dict (what this package
  loads, no pickle) plus, for MLflow, the pickled module in ``data/model.pth``, which
  this package never unpickles.
* keras: ``data/model.keras``.
* python_function (a PythonModel or a callable): ``loader_module:
  jupyter_mltrack.models``, so MLflow loads it where this package is installed.

Folders written by version 0.1 (``skops_model``, ``model_class`` as ``module:Class``,
``loader_module: jupyter_mltrack.models`` for every flavor, LightGBM as ``model.txt`` +
``wrapper.skops``, ``data: model.keras``) still load here.
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..errors import InvalidModel
from .signature import ModelSignature

MLMODEL_FILE = "MLmodel"
REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"
INPUT_EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"
CODE_DIR = "code"
PYFUNC = "python_function"


@dataclass
class ModelMeta:
    """The content of an ``MLmodel`` file."""

    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = field(default_factory=lambda: _utc_now())
    run_id: str | None = None
    artifact_path: str | None = None
    metadata: dict[str, Any] | None = None
    model_size_bytes: int | None = None
    mltrack_version: str | None = None

    @property
    def flavor(self) -> str:
        """The framework flavor (the first one that is not ``python_function``)."""
        for name in self.flavors:
            if name != PYFUNC:
                return name
        return PYFUNC

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.artifact_path is not None:
            out["artifact_path"] = self.artifact_path
        out["flavors"] = self.flavors
        if self.metadata:
            out["metadata"] = self.metadata
        if self.mltrack_version:
            out["mltrack_version"] = self.mltrack_version
        if self.model_size_bytes is not None:
            out["model_size_bytes"] = self.model_size_bytes
        out["model_uuid"] = self.model_uuid
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.saved_input_example_info:
            out["saved_input_example_info"] = self.saved_input_example_info
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        out["utc_time_created"] = self.utc_time_created
        return out

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), default_flow_style=False, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Any, where: str = "MLmodel") -> ModelMeta:
        if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict) \
                or not data["flavors"]:
            raise InvalidModel(
                f"{where} is not a valid MLmodel file: it names no flavors. Save the model "
                "again with save_model() or log_model()."
            )
        signature = data.get("signature")
        example = data.get("saved_input_example_info")
        return cls(
            flavors={str(k): dict(v or {}) for k, v in data["flavors"].items()},
            signature=ModelSignature.from_dict(signature) if signature else None,
            saved_input_example_info=dict(example) if isinstance(example, dict) else None,
            model_uuid=str(data.get("model_uuid") or uuid.uuid4().hex),
            utc_time_created=str(data.get("utc_time_created") or ""),
            run_id=data.get("run_id"),
            artifact_path=data.get("artifact_path"),
            metadata=data.get("metadata"),
            model_size_bytes=data.get("model_size_bytes"),
            mltrack_version=data.get("mltrack_version"),
        )

    @classmethod
    def from_yaml(cls, text: str | bytes, where: str = "MLmodel") -> ModelMeta:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidModel(f"{where} is not valid YAML: {exc}") from exc
        return cls.from_dict(data, where)


_DRIVE = re.compile(r"^[A-Za-z]:")


def model_file(folder: Path, name: Any, field: str) -> Path:
    """The file or folder an MLmodel ``field`` names, which must be inside ``folder``.

    Refused with InvalidModel: anything but a relative path, ``..`` segments, and a
    symbolic link that leads out of the folder.
    """
    fix = ("a model's files must be inside its folder. The MLmodel file was edited or is "
           "not valid; save the model again with save_model() or log_model().")
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise InvalidModel(f"The MLmodel field {field} is {name!r}, not the name of a file "
                           f"in the model folder; {fix}")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() \
            or name.startswith(("~", "\\")) or _DRIVE.match(name) \
            or ".." in re.split(r"[/\\]", name):
        raise InvalidModel(f"The MLmodel field {field} names {name!r}, which is outside the "
                           f"model folder; {fix}")
    root = folder.resolve()
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise InvalidModel(f"The MLmodel field {field} names {name!r}, which leads outside the "
                           f"model folder through a symbolic link; {fix}")
    return target


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
