"""Loading models: ``load_model``, ``load_native``, ``read_model_meta`` from a folder,
a ``runs:/`` URI, a URL, or a registry URI (``models:/``, resolved by the registry through
:func:`register_model_uri_resolver`). Trust follows where the bytes came from.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    InvalidModel,
    InvalidParameter,
    MissingDependency,
    NotFound,
    UntrustedModel,
)
from . import progress as _progress
from .flavors import LoadContext, all_flavors, get_flavor
from .format import (
    MLMODEL_FILE,
    PYFUNC,
    ModelMeta,
    model_file,
)
from .provenance import VERSION_DIGEST_TAG, VERSION_ORIGIN_TAG, folder_digest
from .pyfunc import PyFuncModel
from .transfer import download, no_model_message, reaching, repository_for

if TYPE_CHECKING:
    from ..entities import ModelVersion
    from ..tracking.client import Client

#: Run tag holding a JSON list of the models logged in the run.
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


def _load_pyfunc(path: str, model_config: Any = None) -> PyFuncModel:
    """MLflow's entry point for ``loader_module: jupyter_mltrack.models`` (models only this
    package can load: a PythonModel or a callable), so that MLflow loads them where this
    package is installed.

    MLflow unpickles a model only with its consent, ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION
    =true``; given that, the folder is trusted as MLflow would trust it; otherwise the
    rules of :func:`load_model` hold. The model's own ``model_config`` is used.
    """
    consent = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "").strip().lower()
    return load_model(path, trust=consent == "true")


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
#: the registry registers its ``models:/`` resolver when it is imported.
ModelUriResolver = Callable[[str, "Client | None"], "ModelVersion"]
_RESOLVERS: dict[str, ModelUriResolver] = {}

#: The module that registers the built-in resolver of a scheme, imported the first time
#: a URI of that scheme is met (as the built-in flavors are), so that ``import
#: jupyter_mltrack`` need not load the registry up front.
BUILTIN_RESOLVERS = {"models": "jupyter_mltrack.registry.resolve"}


def register_model_uri_resolver(scheme: str, resolver: ModelUriResolver) -> None:
    """Let ``load_model`` and friends resolve ``<scheme>:/…`` URIs through ``resolver``."""
    _RESOLVERS[scheme] = resolver


def _model_version(uri: str, client: Client | None) -> ModelVersion:
    """The registry's ModelVersion a ``models:/`` URI names."""
    scheme = uri.split(":", 1)[0]
    if scheme not in _RESOLVERS and scheme in BUILTIN_RESOLVERS:
        import importlib

        importlib.import_module(BUILTIN_RESOLVERS[scheme])
    resolver = _RESOLVERS.get(scheme)
    if resolver is None:
        raise MissingDependency(
            f"{uri}: no model registry is loaded to resolve it; import the module that "
            "registers it, or load the model by its runs:/<run_id>/<name> URI."
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
        from ..artifacts import clean_artifact_path
        from ..entities import digest_tag
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
