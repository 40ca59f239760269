"""``log_model``, ``save_model``, ``load_model``, ``load_native`` and ``read_model_meta``.

A model folder is written to a hidden staging folder next to its destination and moved
into place when complete, so a failed save leaves nothing half-written and never touches
what is already stored.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..artifacts import artifact_repository, clean_artifact_path
from ..entities import ModelVersion
from ..errors import (
    AlreadyExists,
    InvalidModel,
    InvalidParameter,
    InvalidState,
    MissingDependency,
    NotFound,
    UntrustedModel,
)
from . import progress as _progress
from .example import write_input_example
from .flavors import LoadContext, SaveContext, all_flavors, flavor_for, get_flavor
from .format import (
    CODE_DIR,
    MLMODEL_FILE,
    PYFUNC,
    PYTHON_ENV_FILE,
    REQUIREMENTS_FILE,
    ModelMeta,
    model_file,
)
from .provenance import VERSION_DIGEST_TAG, VERSION_ORIGIN_TAG, digest_tag, folder_digest
from .pyfunc import PyFuncModel
from .requirements import model_modules, normalise, pinned
from .signature import ModelSignature, enforce_input, infer_schema
from .transfer import download, no_model_message, reaching, repository_for, upload

if TYPE_CHECKING:
    from ..tracking.client import Client

#: Run tag holding a JSON list of the models logged in the run.
LOGGED_MODELS_TAG = "mltrack.loggedModels"


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

    pyfunc: dict[str, Any] = {
        "loader_module": "jupyter_mltrack.models",
        "python_version": platform.python_version(),
        "env": {"virtualenv": PYTHON_ENV_FILE},
    }
    if code_modules:
        pyfunc["code"] = CODE_DIR
    flavors = {PYFUNC: {**conf, **pyfunc}} if flavor.name == PYFUNC else \
        {flavor.name: conf, PYFUNC: pyfunc}

    if wanted_requirements is None:
        modules = [m for m in flavor.modules(model, conf) if m]
        if getattr(flavor, "walks_model", lambda conf: True)(conf):
            modules += sorted(model_modules(model))
        wanted_requirements, unknown = pinned(modules, local=code_modules)
        if unknown:
            warnings.warn(
                f"The model uses module(s) {', '.join(unknown)} that no installed package "
                "provides; pass their source files with code_paths=[...] so that the model "
                "loads elsewhere.", stacklevel=3)
    (folder / REQUIREMENTS_FILE).write_text("\n".join(wanted_requirements) + "\n",
                                            encoding="utf-8")
    (folder / PYTHON_ENV_FILE).write_text(_python_env(), encoding="utf-8")

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
    inputs = infer_schema(example)
    outputs = None
    try:
        prediction = flavor.predict(model, enforce_input(example, inputs), {})
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
    tags = {LOGGED_MODELS_TAG: json.dumps(models)}
    if digest is not None and meta.artifact_path is not None:
        tags[digest_tag(meta.artifact_path)] = digest
    # straight to the store: the Client refuses digest tags from users (only log_model
    # may vouch for the files it wrote)
    client.store.log_batch(run_id, tags=tags)


# -- loading -----------------------------------------------------------------------------


@dataclass
class _Located:
    """A model folder on this machine, what was asked for, and what vouches for its files."""

    path: Path
    inside_store: bool
    source: str
    #: the digest the files must have to be trusted (recorded by log_model or at registration)
    digest: str | None = None
    #: why the files are not trusted, said when loading them needs trust
    distrust: str = "it is a folder outside the store"

    def verify(self) -> bool:
        """Whether the files are exactly those their digest was recorded for."""
        if self.digest is None:
            return False
        if folder_digest(self.path) == self.digest:
            return True
        self.distrust = ("its files changed after they were written (they no longer match "
                         "the digest recorded then)")
        return False


def load_model(model_uri: str | os.PathLike[str], trust: bool = False, *,
               client: Client | None = None, dst_path: str | os.PathLike[str] | None = None,
               progress: bool | None = None) -> PyFuncModel:
    """Load a model for prediction: ``runs:/<run_id>/model``, ``models:/name/3``,
    ``models:/name/Production``, ``models:/name@alias``, or a local folder.

    The result has ``predict(data)`` whatever the framework. Models stored with pickle
    (or shipping code) load without ``trust=True`` only when their files are exactly
    what ``log_model`` wrote into the store.
    """
    located = _locate(model_uri, client, dst_path, progress)
    meta = _read_meta(located.path, located.source)
    flavor = _pick_flavor(meta)
    native = _load(flavor, meta, located, trust, progress)
    return PyFuncModel(meta, native, flavor, located.path, located.source)


def load_native(model_uri: str | os.PathLike[str], trust: bool = False, *,
                flavor: str | None = None, client: Client | None = None,
                dst_path: str | os.PathLike[str] | None = None,
                progress: bool | None = None) -> Any:
    """The framework object itself (an sklearn Pipeline, an xgboost Booster, a torch Module...)."""
    located = _locate(model_uri, client, dst_path, progress)
    meta = _read_meta(located.path, located.source)
    if flavor is not None and flavor not in meta.flavors:
        raise InvalidModel(
            f"{located.source} has no {flavor!r} flavor; it has {', '.join(meta.flavors)}."
        )
    chosen = get_flavor(flavor) if flavor else _pick_flavor(meta)
    return _load(chosen, meta, located, trust, progress)


def read_model_meta(model_uri: str | os.PathLike[str], *, client: Client | None = None
                    ) -> ModelMeta:
    """The MLmodel of a model location, reading nothing else; InvalidModel if there is none."""
    uri = os.fspath(model_uri)
    if uri.startswith("models:/"):
        return read_model_meta(_model_version(uri, client).source, client=client)
    where = _where(uri, client)
    if where.repo is None:
        return _read_meta(Path(where.path), uri)
    try:
        with reaching(where.url):
            data = where.repo.read_bytes(f"{where.path}/{MLMODEL_FILE}" if where.path
                                        else MLMODEL_FILE)
    except NotFound:
        raise InvalidModel(no_model_message(uri)) from None
    return ModelMeta.from_yaml(data, f"{uri}/{MLMODEL_FILE}")


def model_files_digest(model_uri: str, *, client: Client | None = None,
                       progress: bool | None = None) -> str | None:
    """The digest of the files a model URI names now (downloading them when remote)."""
    with tempfile.TemporaryDirectory(prefix="mltrack-model-") as tmp:
        located = _locate(model_uri, client, Path(tmp) / "model", progress)
        return folder_digest(located.path)


def _pick_flavor(meta: ModelMeta) -> Any:
    names = [n for n in meta.flavors if n != PYFUNC] or [PYFUNC]
    known = {f.name: f for f in all_flavors()}
    for name in names:
        if name in known:
            return known[name]
    raise MissingDependency(
        f"This model was saved with flavor {', '.join(names)}, which is not installed here; "
        "install the package that provides it (see the model's requirements.txt)."
    )


def _load(flavor: Any, meta: ModelMeta, located: _Located, trust: bool,
          progress: bool | None) -> Any:
    # checking the files' digest reads them all: only done when a flavor asks
    ctx = LoadContext(located.path, meta.flavors[flavor.name], True if trust else located.verify,
                      located.inside_store)
    try:
        code = meta.flavors.get(PYFUNC, {}).get("code")
        if code:
            code_dir = str(model_file(located.path, code, "python_function.code"))
            if not ctx.trusted:
                raise UntrustedModel(
                    f"The model ships Python code ({code}/) that runs when the model loads. "
                    "If you trust its source, pass trust=True."
                )
            if code_dir not in sys.path:
                sys.path.insert(0, code_dir)
        size = meta.model_size_bytes
        if _progress.wanted(size, progress):
            with _progress.Watch(f"Loading model ({_progress._size(size or 0)})", None, True):
                return flavor.load(ctx)
        return flavor.load(ctx)
    except UntrustedModel as exc:
        exc.args = (f"{located.source}: {exc} It is not trusted because {located.distrust}.",)
        raise


def _read_meta(folder: Path, source: str) -> ModelMeta:
    file = folder / MLMODEL_FILE
    if not file.is_file():
        raise InvalidModel(no_model_message(source))
    return ModelMeta.from_yaml(file.read_bytes(), f"{source}/{MLMODEL_FILE}")


#: ``resolver(uri, client)`` for each URI scheme that names a registry entry: the
#: ModelVersion whose ``source`` holds the files. The model format knows no registry;
#: the registry registers its ``models:/`` resolver when it is imported (and
#: ``import jupyter_mltrack`` imports it).
ModelUriResolver = Callable[[str, "Client | None"], ModelVersion]
_RESOLVERS: dict[str, ModelUriResolver] = {}


def register_model_uri_resolver(scheme: str, resolver: ModelUriResolver) -> None:
    """Let ``load_model`` and friends resolve ``<scheme>:/…`` URIs through ``resolver``."""
    _RESOLVERS[scheme] = resolver


def _model_version(uri: str, client: Client | None) -> ModelVersion:
    """The registry's ModelVersion a ``models:/`` URI names."""
    resolver = _RESOLVERS.get(uri.split(":", 1)[0])
    if resolver is None:
        raise MissingDependency(
            f"{uri}: no model registry is loaded to resolve it; import jupyter_mltrack (which "
            "loads the registry) or load the model by its runs:/<run_id>/<name> URI."
        )
    return resolver(uri, client)


@dataclass
class _Where:
    """Where a non-registry model URI's files are."""

    repo: Any  # the artifact repository, or None for a local folder
    path: str  # the path inside it (or the local folder)
    url: str  # what to name when the storage cannot be reached
    inside_store: bool
    digest: str | None = None
    distrust: str = "it is a folder outside the store"


def _where(uri: str, client: Client | None) -> _Where:
    if uri.startswith("runs:/"):
        from ..tracking import fluent
        from ..uris import parse_runs_uri

        parsed = parse_runs_uri(uri)
        run = (client or fluent.client()).get_run(parsed.run_id)
        path = clean_artifact_path(parsed.path)
        root = run.info.artifact_uri
        return _Where(repository_for(root), path,
                      f"{uri} ({root.rstrip('/')}/{path})", True,
                      run.data.tags.get(digest_tag(path)) if path else None,
                      "log_model did not write it (files logged with log_artifacts or copied "
                      "into the store are not trusted)")
    if uri.startswith("file://"):
        return _Where(None, uri[len("file://"):], uri, False)
    if "://" in uri:
        return _Where(repository_for(uri), "", uri, False,
                      distrust="it is a URL outside the store")
    return _Where(None, str(Path(uri).expanduser()), uri, False)


def _locate(model_uri: str | os.PathLike[str], client: Client | None,
            dst_path: str | os.PathLike[str] | None, progress: bool | None) -> _Located:
    uri = os.fspath(model_uri)
    if not isinstance(uri, str) or not uri:
        raise InvalidParameter(f"{model_uri!r} is not a model URI or path.")
    if uri.startswith("models:/"):
        version = _model_version(uri, client)
        located = _locate(version.source, client, dst_path, progress)
        pinned = version.tags.get(VERSION_DIGEST_TAG)
        origin = version.tags.get(VERSION_ORIGIN_TAG)
        digest: str | None
        if pinned:
            digest, distrust = pinned, located.distrust
        elif version.source.startswith("runs:/"):
            digest, distrust = located.digest, located.distrust
        else:
            digest = None
            distrust = (f"it was registered from {origin or version.source}, outside the store, "
                        "without register_model(..., trust=True)")
        return _Located(located.path, True, uri, digest, distrust)
    where = _where(uri, client)
    if where.repo is None:
        folder = Path(where.path)
        if not folder.is_dir():
            raise InvalidModel(no_model_message(uri, "is not a folder"))
        return _Located(folder, False, uri)
    if hasattr(where.repo, "local_path"):
        path = Path(where.repo.local_path(where.path))
    else:
        dst = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="mltrack-model-"))
        path = download(where.repo, where.path, dst, progress, uri, where.url)
    return _Located(path, where.inside_store, uri, where.digest, where.distrust)
