"""MLflow's ``mlflow.artifacts``: download, list and read artifacts by URI or by run.

A URI is a local path, a storage URL (``s3://...``), or one that names something in the
store: ``runs:/<run_id>/<path>`` and ``models:/<name>/<version>``. The layers that know
runs and registered models teach this module their schemes through
:func:`register_artifact_uri_resolver` when they are imported; the first URI of such a
scheme imports them (:data:`BUILTIN_RESOLVERS`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..entities import FileInfo
from ..errors import InvalidParameter, NotFound
from .paths import clean_artifact_path

#: ``resolver(uri, tracking_uri)`` -> (artifact root, path inside it) for a URI scheme.
ArtifactUriResolver = Callable[[str, "str | None"], "tuple[str, str]"]
_RESOLVERS: dict[str, ArtifactUriResolver] = {}

#: The module that registers the built-in resolver of a scheme, imported the first time
#: a URI of that scheme is met, so that ``import jupyter_mltrack`` need not load them.
BUILTIN_RESOLVERS = {"runs": "jupyter_mltrack.tracking.fluent",
                     "models": "jupyter_mltrack.registry.resolve"}


def register_artifact_uri_resolver(scheme: str, resolver: ArtifactUriResolver) -> None:
    """Let ``download_artifacts`` and friends read ``<scheme>:/…`` URIs through
    ``resolver(uri, tracking_uri)``, which returns the artifact root and the path in it."""
    _RESOLVERS[scheme] = resolver


def _resolver(scheme: str) -> ArtifactUriResolver | None:
    """The resolver of a scheme, importing the module of a built-in one when first met."""
    if scheme not in _RESOLVERS and scheme in BUILTIN_RESOLVERS:
        import importlib

        importlib.import_module(BUILTIN_RESOLVERS[scheme])
    return _RESOLVERS.get(scheme)


def artifact_location(uri: str, tracking_uri: str | None = None) -> tuple[str, str]:
    """The artifact root holding what ``uri`` names, and its path under that root (empty
    when the URI names a whole root: a run's artifacts, a model version's folder)."""
    scheme = _scheme(uri)
    resolver = _resolver(scheme)
    if resolver is not None:
        return resolver(uri, tracking_uri)
    text = uri.rstrip("/")
    if "://" in text and text.split("://", 1)[1].count("/") == 0:
        return text, ""  # a bucket
    if "/" not in text.replace("\\", "/"):
        return str(Path(text).resolve().parent), Path(text).name
    parent, _, name = text.rpartition("/")
    return parent or "/", name


def _scheme(uri: str) -> str:
    return uri.split(":", 1)[0] if ":/" in uri else ""


def _target(artifact_uri: str | None, run_id: str | None, artifact_path: str | None) -> str:
    if (artifact_uri is None) == (run_id is None):
        raise InvalidParameter("Pass artifact_uri= or run_id= (with artifact_path=), one of them.")
    if artifact_uri is not None:
        if artifact_path is not None:
            raise InvalidParameter("artifact_path= goes with run_id=; put the path in the URI.")
        return os.fspath(artifact_uri)
    return f"runs:/{run_id}/{clean_artifact_path(artifact_path)}"


def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None,
                       artifact_path: str | None = None,
                       dst_path: str | os.PathLike[str] | None = None,
                       tracking_uri: str | None = None) -> str:
    """Copy artifacts to the local folder ``dst_path`` (a new temporary folder by default);
    returns the local path of what was asked for.

    A file or folder is copied into ``dst_path`` under its name; a whole root (a run's
    artifacts, a registered model version) is copied as the contents of ``dst_path``.
    """
    from . import artifact_repository

    root, path = artifact_location(_target(artifact_uri, run_id, artifact_path), tracking_uri)
    dst = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="mltrack-"))
    dst.mkdir(parents=True, exist_ok=True)
    repo = artifact_repository(root)
    if path:
        return str(repo.download(path, dst))
    entries = repo.list("")
    if not entries:
        raise NotFound(f"No artifacts under {root}.")
    for entry in entries:
        repo.download(entry.path, dst)
    return str(dst)


def list_artifacts(artifact_uri: str | None = None, run_id: str | None = None,
                   artifact_path: str | None = None,
                   tracking_uri: str | None = None) -> list[FileInfo]:
    """The files and folders directly under a URI, or under a run's ``artifact_path``."""
    from . import artifact_repository

    target = _target(artifact_uri, run_id, artifact_path)
    if _resolver(_scheme(target)) is None:
        return artifact_repository(target).list("")  # a folder or storage URL
    root, path = artifact_location(target, tracking_uri)
    return artifact_repository(root).list(path)


def _read(artifact_uri: str, tracking_uri: str | None = None) -> bytes:
    from . import artifact_repository

    root, path = artifact_location(os.fspath(artifact_uri), tracking_uri)
    if not path:
        raise InvalidParameter(f"{artifact_uri} names a folder; name a file in it.")
    return artifact_repository(root).read_bytes(path)


def load_text(artifact_uri: str) -> str:
    """The text of one artifact file."""
    return _read(artifact_uri).decode("utf-8")


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """A JSON (or YAML) artifact file as a dict."""
    data = _read(artifact_uri)
    if artifact_uri.endswith((".yaml", ".yml")):
        import yaml

        loaded = yaml.safe_load(data)
    else:
        try:
            loaded = json.loads(data)
        except ValueError as exc:
            raise InvalidParameter(f"{artifact_uri} is not JSON: {exc}.") from None
    if not isinstance(loaded, dict):
        raise InvalidParameter(f"{artifact_uri} holds a {type(loaded).__name__}, not a dict.")
    return loaded
