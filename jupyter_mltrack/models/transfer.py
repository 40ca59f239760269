"""Moving model folders: download from an artifact repository, upload to one, and copy a
model from outside the store into it (what ``register_model`` does with a folder).

Failures of remote storage (no credentials, access denied, no route to the server)
become :class:`~jupyter_mltrack.errors.ArtifactUnavailable` naming the URL, raised from
the backend's own error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ArtifactUnavailable, InvalidModel, InvalidURI, MissingDependency, MLTrackError
from . import progress as _progress
from .format import MLMODEL_FILE
from .provenance import folder_digest

#: Folder under the store's artifact root holding models registered from outside it.
REGISTERED_COPIES_DIR = "registered-models"

_HINTS = {
    "s3": "Check the AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
          "AWS_PROFILE), AWS_ENDPOINT_URL for an S3-compatible server, and that the bucket "
          "exists and you may read it.",
    "gs": "Check the Google Cloud credentials (GOOGLE_APPLICATION_CREDENTIALS) and that you "
          "may read the bucket.",
    "az": "Check the Azure credentials (AZURE_STORAGE_CONNECTION_STRING, or the account name "
          "and key) and that you may read the container.",
    "http": "Check that the server is reachable from here and that the URL is right.",
}
_HINTS.update(gcs=_HINTS["gs"], abfs=_HINTS["az"], abfss=_HINTS["az"], adl=_HINTS["az"],
              s3a=_HINTS["s3"], https=_HINTS["http"])


@contextmanager
def reaching(where: str) -> Iterator[None]:
    """Turn a storage backend's failure inside the block into ArtifactUnavailable."""
    try:
        yield
    except MLTrackError:
        raise
    except Exception as exc:  # any failure of a storage backend is mapped here
        scheme = where.split("://", 1)[0].lower() if "://" in where else ""
        hint = _HINTS.get(scheme, f"Check the credentials and network access for {scheme}:// "
                                  "URLs." if scheme else "Check that the files are readable.")
        raise ArtifactUnavailable(
            f"Could not reach the model files at {where} ({type(exc).__name__}: {exc}). {hint}"
        ) from exc


def repository_for(url: str) -> Any:
    """The artifact repository of a URL, or a clear error when no backend serves it."""
    from ..artifacts import artifact_repository

    try:
        return artifact_repository(url)
    except MLTrackError:
        raise
    except ImportError as exc:
        raise MissingDependency(f"{url}: {exc}") from exc
    except ValueError as exc:
        raise InvalidURI(
            f"{url!r}: {exc}. Pass a runs:/ or models:/ URI, a local folder, or a URL of a "
            "storage fsspec knows (s3://, gs://, http://...)."
        ) from exc


def download(repo: Any, path: str, dst: Path, progress: bool | None, uri: str,
             where: str | None = None) -> Path:
    """Copy the model folder ``path`` of ``repo`` to the local folder ``dst``."""
    from ..artifacts import clean_artifact_path

    with reaching(where or uri):
        files = []
        stack = [path]
        while stack:
            for info in repo.list(stack.pop()):
                (stack.append(info.path) if info.is_dir else files.append(info))
        if not any(f.path.rsplit("/", 1)[-1] == MLMODEL_FILE for f in files):
            raise InvalidModel(no_model_message(uri))
        total = sum(f.file_size or 0 for f in files)
        bar = _progress.Bar("Downloading model", total, _progress.wanted(total, progress))
        prefix = f"{path}/" if path else ""
        for info in files:
            rel = info.path[len(prefix):] if info.path.startswith(prefix) else info.path
            target = dst / clean_artifact_path(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            repo.download(info.path, target.parent)  # streams the file; no copy in memory
            bar.advance(info.file_size or 0)
        bar.close()
    return dst


def upload(repo: Any, local: Path, artifact_path: str, progress: bool | None,
           where: str) -> None:
    """Copy every file below ``local`` to ``artifact_path/`` of ``repo``."""
    files = sorted(p for p in local.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    bar = _progress.Bar("Uploading model", total, _progress.wanted(total, progress))
    with reaching(where):
        for path in files:
            rel = path.relative_to(local).parent.as_posix()
            parts = [p for p in (artifact_path, "" if rel == "." else rel) if p]
            repo.log_file(path, "/".join(parts))
            bar.advance(path.stat().st_size)
    bar.close()


def no_model_message(source: str, problem: str = f"holds no model (no {MLMODEL_FILE} file)"
                     ) -> str:
    return (f"{source} {problem}. Check the path: a logged model's URI is "
            "runs:/<run_id>/<name>, as returned by log_model().model_uri.")


def copy_into_store(location: str, artifact_root: str,
                    progress: bool | None = None) -> tuple[str, str]:
    """Copy the model at ``location`` (a local folder or a URL) to a new folder under the
    store's ``artifact_root``; return where the copy is and the digest of its files."""
    from ..artifacts import artifact_repository

    dest = f"{artifact_root.rstrip('/')}/{REGISTERED_COPIES_DIR}/{uuid.uuid4().hex}"
    repo = artifact_repository(dest)
    if hasattr(repo, "local_path"):
        target = Path(repo.local_path())
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.tmp"
        try:
            _fetch(location, staging, progress)
            digest = folder_digest(staging)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        dest = str(target)
    else:
        with tempfile.TemporaryDirectory(prefix="mltrack-model-") as tmp:
            local = Path(tmp) / "model"
            _fetch(location, local, progress)
            digest = folder_digest(local)
            upload(repo, local, "", progress, dest)
    if digest is None:  # the copy holds only plain files: this cannot happen
        raise InvalidModel(f"The copy of {location} in the store holds links or special files.")
    return dest, digest


def remove_copy(dest: str) -> None:
    """Delete a copy made by :func:`copy_into_store` (registration failed after it)."""
    from ..artifacts import artifact_repository

    with reaching(dest):
        artifact_repository(dest).delete_all()


def _fetch(location: str, dst: Path, progress: bool | None) -> None:
    if "://" in location and not location.startswith("file://"):
        download(repository_for(location), "", dst, progress, location)
        return
    source = Path(location.removeprefix("file://")).expanduser()
    root = source.resolve()
    if not root.is_dir():
        raise InvalidModel(no_model_message(location, "is not a folder"))
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            entry = Path(dirpath) / name
            if not entry.is_symlink():
                continue
            target = entry.resolve()
            if entry.is_dir() or (target != root and root not in target.parents):
                raise InvalidModel(
                    f"{entry} is a symbolic link to {target}, outside the model folder or to "
                    "a folder; copy what it points to into the model folder, then register "
                    "it again (nothing was registered)."
                )
    shutil.copytree(root, dst, symlinks=False)
