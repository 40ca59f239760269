"""Saving models: ``save_model`` into a folder, ``log_model`` into a run's artifacts.

A model folder is written to a hidden staging folder next to its destination and moved
into place when complete, so a failed save leaves nothing half-written and never touches
what is already stored.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..errors import (
    AlreadyExists,
    InvalidParameter,
    InvalidState,
    NotFound,
)
from . import progress as _progress
from .example import write_input_example
from .flavors import SaveContext, flavor_for
from .format import (
    CODE_DIR,
    CONDA_ENV_FILE,
    MLMODEL_FILE,
    PYFUNC,
    PYTHON_ENV_FILE,
    REQUIREMENTS_FILE,
    ModelMeta,
)
from .provenance import folder_digest
from .requirements import model_modules, normalise, pinned
from .signature import ModelSignature, enforce_input, infer_schema
from .transfer import reaching, upload

if TYPE_CHECKING:
    from ..tracking.client import Client

#: Run tag holding a JSON list of the models logged in the run.
LOGGED_MODELS_TAG = "mltrack.loggedModels"

#: The loader module of models that only this package can load (PythonModel, callables).
OWN_LOADER_MODULE = "jupyter_mltrack.models"


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns: where the model is and what its MLmodel says."""

    model_uri: str
    run_id: str
    artifact_path: str
    meta: ModelMeta

    @property
    def model_uuid(self) -> str:
        return self.meta.model_uuid

    @property
    def flavors(self) -> dict[str, dict[str, Any]]:
        return self.meta.flavors

    @property
    def signature(self) -> ModelSignature | None:
        return self.meta.signature

    @property
    def utc_time_created(self) -> str:
        return self.meta.utc_time_created

    @property
    def metadata(self) -> dict[str, Any] | None:
        return self.meta.metadata

    @property
    def saved_input_example_info(self) -> dict[str, Any] | None:
        return self.meta.saved_input_example_info


# -- saving ------------------------------------------------------------------------------


def save_model(model: Any, path: str | os.PathLike[str], signature: Any = "infer",
               input_example: Any = None, requirements: Iterable[str] | str | None = None,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               metadata: Mapping[str, Any] | None = None, *, progress: bool | None = None,
               **flavor_options: Any) -> ModelMeta:
    """Save ``model`` as a model folder at ``path`` (which must not exist yet, or be empty).

    The flavor is detected from the model. ``signature="infer"`` infers it from
    ``input_example`` and the model's predictions on it; pass a ModelSignature, or None.
    Extra keyword arguments go to the flavor (``serialization_format`` for sklearn,
    ``model_format`` for XGBoost, ``init_args``/``init_kwargs`` for PyTorch, ``artifacts``
    for a PythonModel).
    """
    target = Path(path).expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AlreadyExists(
            f"{target} already exists; save the model to a new folder (nothing was changed)."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        meta = _write_model(model, staging, signature, input_example, requirements, code_paths,
                            metadata, flavor_options, progress)
        if target.exists():
            target.rmdir()
        _move_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return meta


def log_model(model: Any, name: str = "model", signature: Any = "infer",
              input_example: Any = None, requirements: Iterable[str] | str | None = None,
              code_paths: Iterable[str | os.PathLike[str]] | None = None,
              metadata: Mapping[str, Any] | None = None, *, run_id: str | None = None,
              client: Client | None = None, progress: bool | None = None,
              **flavor_options: Any) -> ModelInfo:
    """Save ``model`` into a run's artifacts under ``name/`` (the active run by default).

    Returns a ModelInfo whose ``model_uri`` (``runs:/<run_id>/<name>``) loads it back
    with :func:`load_model`. Arguments as for :func:`save_model`.
    """
    from ..artifacts import artifact_repository, clean_artifact_path
    from ..tracking import fluent

    client = client or fluent.client()
    if run_id is None:
        run_id = fluent.current_run_id() if client is fluent.client() else None
    if run_id is None:
        raise InvalidParameter("Pass run_id= to log a model through a Client.")
    artifact_path = clean_artifact_path(name)
    if not artifact_path:
        raise InvalidParameter("A model needs a name, such as name='model'.")
    run = client.get_run(run_id)
    if run.info.lifecycle_stage != "active":
        raise InvalidState(f"Run {run_id} is deleted; restore_run() it before logging a model.")
    repo = artifact_repository(run.info.artifact_uri)
    with reaching(run.info.artifact_uri):
        taken = repo.list(artifact_path)
    if taken:
        raise AlreadyExists(
            f"Run {run_id} already has artifacts at {artifact_path!r}; log the model under "
            "another name= (nothing was changed)."
        )
    args = (signature, input_example, requirements, code_paths, metadata, flavor_options,
            progress)
    if hasattr(repo, "local_path"):
        target = Path(repo.local_path(artifact_path))
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            meta = _write_model(model, staging, *args, run_id=run_id,
                                artifact_path=artifact_path)
            digest = folder_digest(staging)
            _move_into_place(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        with tempfile.TemporaryDirectory(prefix="mltrack-model-") as tmp:
            local = Path(tmp) / "model"
            meta = _write_model(model, local, *args, run_id=run_id, artifact_path=artifact_path)
            digest = folder_digest(local)
            upload(repo, local, artifact_path, progress, run.info.artifact_uri)
    _record_on_run(client, run_id, meta, digest)
    return ModelInfo(f"runs:/{run_id}/{artifact_path}", run_id, artifact_path, meta)


def _write_model(model: Any, folder: Path, signature: Any, input_example: Any,
                 requirements: Iterable[str] | str | None,
                 code_paths: Iterable[str | os.PathLike[str]] | None,
                 metadata: Mapping[str, Any] | None, options: dict[str, Any],
                 progress: bool | None, run_id: str | None = None,
                 artifact_path: str | None = None) -> ModelMeta:
    if isinstance(model, (str, os.PathLike)):
        raise InvalidParameter(
            f"log_model/save_model take the model object, not a path ({model!r}); to log "
            "files use log_artifact()."
        )
    flavor = flavor_for(model)
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidParameter("metadata is a dict of JSON values.")
    wanted_requirements = normalise(requirements) if requirements is not None else None
    folder.mkdir(parents=True)
    code_modules = _copy_code(code_paths, folder / CODE_DIR)
    options = dict(options)
    with _progress.Watch("Saving model", lambda: _progress.folder_size(folder), progress):
        conf = flavor.save(model, SaveContext(folder, options, folder / CODE_DIR
                                              if code_modules else None))
    if options:
        raise InvalidParameter(
            f"Unknown option(s) {', '.join(sorted(options))} for a {flavor.name} model."
        )

    example_info = None
    sig: ModelSignature | None = None
    example = None
    if input_example is not None:
        example, example_info = write_input_example(input_example, folder)
    if isinstance(signature, str) and signature == "infer":
        if example is not None:
            sig = _infer(flavor, model, example)
    elif isinstance(signature, ModelSignature):
        sig = signature
    elif isinstance(signature, Mapping):
        sig = ModelSignature.from_dict(signature)
    elif signature not in (None, False):
        raise InvalidParameter(
            "signature is 'infer', a ModelSignature (see infer_signature()), or None."
        )

    # the python_function entry is MLflow's: its loader module for the flavor, what that
    # loader reads, and the environment files
    python_function = getattr(flavor, "python_function", None)
    pyfunc: dict[str, Any] = dict(python_function(conf)) if python_function else \
        {"loader_module": OWN_LOADER_MODULE}
    pyfunc["python_version"] = platform.python_version()
    pyfunc["env"] = {"conda": CONDA_ENV_FILE, "virtualenv": PYTHON_ENV_FILE}
    if code_modules:
        pyfunc["code"] = CODE_DIR
        if flavor.name != PYFUNC:
            conf["code"] = CODE_DIR  # MLflow's flavor loaders add it to sys.path too
    flavors = {PYFUNC: {**conf, **pyfunc}} if flavor.name == PYFUNC else \
        {flavor.name: conf, PYFUNC: pyfunc}

    if wanted_requirements is None:
        modules = [m for m in flavor.modules(model, conf) if m]
        if getattr(flavor, "walks_model", lambda conf: True)(conf):
            modules += sorted(model_modules(model))
        # a folder MLflow's own loader reads (mlflow.sklearn, ...) is rebuilt from these
        # files by platforms that install each line from PyPI: name this package only
        # where its loader is the one that reads the folder
        wanted_requirements, unknown = pinned(
            modules, local=code_modules,
            with_project=pyfunc["loader_module"] == OWN_LOADER_MODULE)
        if unknown:
            warnings.warn(
                f"The model uses module(s) {', '.join(unknown)} that no installed package "
                "provides; pass their source files with code_paths=[...] so that the model "
                "loads elsewhere.", stacklevel=3)
    (folder / REQUIREMENTS_FILE).write_text("\n".join(wanted_requirements) + "\n",
                                            encoding="utf-8")
    (folder / PYTHON_ENV_FILE).write_text(_python_env(), encoding="utf-8")
    (folder / CONDA_ENV_FILE).write_text(_conda_env(wanted_requirements), encoding="utf-8")

    meta = ModelMeta(
        flavors=flavors, signature=sig, saved_input_example_info=example_info,
        run_id=run_id, artifact_path=artifact_path,
        metadata=json.loads(json.dumps(dict(metadata), default=str)) if metadata else None,
        mltrack_version=__version__,
    )
    meta.model_size_bytes = _progress.folder_size(folder)
    (folder / MLMODEL_FILE).write_text(meta.to_yaml(), encoding="utf-8")
    return meta


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the finished folder to its name; refuse if another writer got there first."""
    try:
        os.replace(staging, target)
    except OSError as exc:
        if target.exists():
            raise AlreadyExists(
                f"{target} was created by another writer meanwhile; it was kept as it is. "
                "Save the model under another name."
            ) from exc
        raise


def _infer(flavor: Any, model: Any, example: Any) -> ModelSignature:
    import numpy as np
    import pandas as pd

    inputs = infer_schema(example)
    outputs = None
    try:
        prediction = flavor.predict(model, enforce_input(example, inputs), {})
        if not inputs.is_tensor and isinstance(prediction, np.ndarray) \
                and prediction.ndim == 1:
            # one value per row of a table: a column, as MLflow writes it
            prediction = pd.Series(prediction)
        outputs = infer_schema(prediction)
    except Exception as exc:  # noqa: BLE001 - the output schema is optional
        warnings.warn(
            f"Could not infer the model's output schema from the input example "
            f"({type(exc).__name__}: {exc}); the signature has inputs only.", stacklevel=4)
    return ModelSignature(inputs=inputs, outputs=outputs)


def _copy_code(code_paths: Iterable[str | os.PathLike[str]] | None, target: Path) -> set[str]:
    """Copy source files/folders into ``code/``; return their top-level module names."""
    if code_paths is None:
        return set()
    if isinstance(code_paths, (str, os.PathLike)):
        code_paths = [code_paths]
    modules = set()
    for entry in code_paths:
        source = Path(entry)
        if not source.exists():
            raise NotFound(f"code_paths entry {source} does not exist; pass existing .py files "
                           "or package folders.")
        target.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target / source.name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            modules.add(source.name)
        else:
            shutil.copy2(source, target / source.name)
            modules.add(source.stem)
    return modules


def _python_env() -> str:
    import yaml

    build = []
    for dist in ("pip", "setuptools", "wheel"):
        try:
            from importlib import metadata

            build.append(f"{dist}=={metadata.version(dist)}")
        except Exception:  # noqa: BLE001 - a missing build tool is left unpinned
            build.append(dist)
    return yaml.safe_dump({"python": platform.python_version(), "build_dependencies": build,
                           "dependencies": [f"-r {REQUIREMENTS_FILE}"]}, sort_keys=False)


def _conda_env(requirements: list[str]) -> str:
    """The environment as a conda spec, for tools that build conda environments."""
    import yaml

    try:
        from importlib import metadata

        pip = f"pip<={metadata.version('pip')}"
    except Exception:  # noqa: BLE001 - no pip installed: leave it unpinned
        pip = "pip"
    return yaml.safe_dump({"channels": ["conda-forge"],
                           "dependencies": [f"python={platform.python_version()}", pip,
                                            {"pip": list(requirements)}],
                           "name": "mltrack-env"}, sort_keys=False)


def _record_on_run(client: Any, run_id: str, meta: ModelMeta, digest: str | None) -> None:
    """List the model in the run's tags, with the digest of the files just written."""
    entry = {"artifact_path": meta.artifact_path, "flavors": list(meta.flavors),
             "model_uuid": meta.model_uuid, "utc_time_created": meta.utc_time_created}
    run = client.get_run(run_id)
    try:
        models = json.loads(run.data.tags.get(LOGGED_MODELS_TAG, "[]"))
    except ValueError:
        models = []
    models = [m for m in models if m.get("artifact_path") != meta.artifact_path] + [entry]
    while len(json.dumps(models)) > 5000 and len(models) > 1:
        models.pop(0)
    client.store.log_batch(run_id, tags={LOGGED_MODELS_TAG: json.dumps(models)})
    if digest is not None and meta.artifact_path is not None:
        # straight to the store: the Client refuses digest tags from users (only
        # log_model may vouch for the files it wrote)
        client.store.record_model_digest(run_id, meta.artifact_path, digest)
