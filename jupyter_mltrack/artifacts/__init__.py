"""Where run artifacts live: a local folder, or any fsspec URL (s3://, gs://, ...).

``artifact_repository(uri)`` returns the repository for a run's artifact root.
Every path goes through :func:`clean_artifact_path`; the local repository
also refuses symlinks that lead out of the root.

Local files are written to a temporary file beside the target, unique per process,
thread and call, and renamed into place; a failed write (disk full, a folder of that
name) removes it and raises :class:`ArtifactError` naming the file and the cause.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from .._importers import import_optional
from ..entities import FileInfo
from ..errors import ArtifactError, InvalidArtifactPath, NotFound
from .paths import clean_artifact_path, inside

__all__ = ["ArtifactRepository", "artifact_location", "artifact_repository",
           "clean_artifact_path", "download_artifacts", "list_artifacts", "load_dict",
           "load_text", "register_artifact_repository", "register_artifact_uri_resolver"]


class ArtifactRepository(Protocol):
    """The files of one run (or one model version)."""

    root: str

    def log_file(self, local_file: str | os.PathLike[str], artifact_path: str = "") -> str:
        """Copy a file into ``artifact_path/``; returns its artifact path."""

    def log_dir(self, local_dir: str | os.PathLike[str], artifact_path: str = "") -> None:
        """Copy a folder's contents into ``artifact_path/``."""

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        """Write ``data`` to the file ``artifact_file``."""

    def read_bytes(self, artifact_file: str) -> bytes:
        """The content of one artifact file."""

    def list(self, path: str = "") -> list[FileInfo]:
        """Files and folders directly under ``path``."""

    def download(self, path: str, dst: str | os.PathLike[str]) -> str:
        """Copy a file or folder to the local folder ``dst``; returns the local path."""

    def delete_all(self) -> None:
        """Remove every artifact of this root."""


def _is_url(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


class LocalArtifactRepository:
    """Artifacts in a local folder."""

    def __init__(self, root: str):
        if root.startswith("file://"):
            root = root[len("file://"):]
        self.root = root
        self._root = Path(root)

    def _path(self, artifact_path: str, create_parent: bool = False) -> Path:
        rel = clean_artifact_path(artifact_path)
        if create_parent:
            _make_folder(self._root)
            parent = posix_parent(rel)
            if parent:
                _make_folder(inside(self._root, parent))
        return inside(self._root, rel)

    def log_file(self, local_file: str | os.PathLike[str], artifact_path: str = "") -> str:
        source = Path(local_file)
        if not source.is_file():
            raise NotFound(f"{source} is not a file; pass the path of a file to log.")
        rel = clean_artifact_path(_join(clean_artifact_path(artifact_path), source.name))
        target = self._path(rel, create_parent=True)
        _atomic_write(target, _chunks_of(source))
        return rel

    def log_dir(self, local_dir: str | os.PathLike[str], artifact_path: str = "") -> None:
        _log_dir(self, local_dir, artifact_path)

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        rel = clean_artifact_path(artifact_file)
        if not rel:
            raise InvalidArtifactPath("An artifact file needs a name, such as 'notes.txt'.")
        target = self._path(rel, create_parent=True)
        _atomic_write(target, [data])

    def read_bytes(self, artifact_file: str) -> bytes:
        target = self._path(artifact_file)
        if not target.is_file():
            raise NotFound(f"No artifact file {artifact_file!r} under {self.root}.")
        return target.read_bytes()

    def list(self, path: str = "") -> list[FileInfo]:
        rel = clean_artifact_path(path)
        folder = self._path(rel)
        if not folder.exists():
            return []
        if folder.is_file():
            return [FileInfo(rel, False, folder.stat().st_size)]
        out = []
        for child in sorted(folder.iterdir()):
            if child.name.endswith(".tmp") and child.name.startswith("."):
                continue
            child_rel = _join(rel, child.name)
            if child.is_dir():
                out.append(FileInfo(child_rel, True, None))
            else:
                out.append(FileInfo(child_rel, False, child.stat().st_size))
        return out

    def download(self, path: str, dst: str | os.PathLike[str]) -> str:
        source = self._path(path)
        if not source.exists():
            raise NotFound(f"No artifact {path!r} under {self.root}.")
        target = Path(dst) / (source.name if clean_artifact_path(path) else "artifacts")
        if source.is_dir():
            root_real = self._root.resolve()
            for entry in source.rglob("*"):  # copytree would copy what a link leads to
                if entry.is_symlink():
                    inside(root_real, entry.relative_to(root_real).as_posix())
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            Path(dst).mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        return str(target)

    def local_path(self, path: str = "") -> str:
        """The artifact's own path on disk (no copy)."""
        return str(self._path(path))

    def delete_all(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)


class FsspecArtifactRepository:
    """Artifacts behind any fsspec URL (s3://bucket/prefix, gs://, memory://, ...)."""

    def __init__(self, root: str):
        fsspec = import_optional("fsspec", extra="s3")
        self.root = root.rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.root)

    def _url(self, rel: str) -> str:
        rel = clean_artifact_path(rel)
        return f"{self._base}/{rel}" if rel else self._base

    def log_file(self, local_file: str | os.PathLike[str], artifact_path: str = "") -> str:
        source = Path(local_file)
        if not source.is_file():
            raise NotFound(f"{source} is not a file; pass the path of a file to log.")
        rel = clean_artifact_path(_join(clean_artifact_path(artifact_path), source.name))
        try:
            self.fs.put_file(str(source), self._url(rel))
        except OSError as exc:
            raise _write_error(self._url(rel), exc) from exc
        return rel

    def log_dir(self, local_dir: str | os.PathLike[str], artifact_path: str = "") -> None:
        _log_dir(self, local_dir, artifact_path)

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        if not clean_artifact_path(artifact_file):
            raise InvalidArtifactPath("An artifact file needs a name, such as 'notes.txt'.")
        try:
            with self.fs.open(self._url(artifact_file), "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise _write_error(self._url(artifact_file), exc) from exc

    def read_bytes(self, artifact_file: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._url(artifact_file)))
        except FileNotFoundError:
            raise NotFound(f"No artifact file {artifact_file!r} under {self.root}.") from None

    def list(self, path: str = "") -> list[FileInfo]:
        rel = clean_artifact_path(path)
        try:
            entries = self.fs.ls(self._url(rel), detail=True)
        except FileNotFoundError:
            return []
        out = []
        prefix = self._base.rstrip("/") + "/"
        for entry in entries:
            name = entry["name"].split(prefix, 1)[-1] if prefix in entry["name"] else entry["name"]
            is_dir = entry.get("type") == "directory"
            out.append(FileInfo(name.strip("/"), is_dir, None if is_dir else entry.get("size")))
        return sorted(out, key=lambda f: f.path)

    def download(self, path: str, dst: str | os.PathLike[str]) -> str:
        rel = clean_artifact_path(path)
        target = Path(dst) / (rel.rsplit("/", 1)[-1] if rel else "artifacts")
        url = self._url(rel)
        if not self.fs.exists(url):
            raise NotFound(f"No artifact {path!r} under {self.root}.")
        if self.fs.isdir(url):
            self.fs.get(url.rstrip("/") + "/", str(target) + "/", recursive=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(url, str(target))
        return str(target)

    def delete_all(self) -> None:
        if self.fs.exists(self._base):
            self.fs.rm(self._base, recursive=True)


def _log_dir(repo: Any, local_dir: str | os.PathLike[str], artifact_path: str) -> None:
    """Copy every file below ``local_dir`` through ``repo.log_file``, keeping the layout."""
    source = Path(local_dir)
    if not source.is_dir():
        raise NotFound(f"{source} is not a folder; pass the path of a folder to log.")
    base = clean_artifact_path(artifact_path)
    for path in sorted(source.rglob("*")):
        if path.is_file():
            rel = path.relative_to(source).as_posix()
            repo.log_file(path, _join(base, posix_parent(rel)))


def posix_parent(rel: str) -> str:
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def _temp_name(target: Path) -> Path:
    """A hidden name beside ``target``, unique per process, thread and call (``list``
    skips such names)."""
    unique = f"{os.getpid()}.{threading.get_ident()}.{secrets.token_hex(4)}"
    return target.with_name(f".{target.name[:100]}.{unique}.tmp")


def _atomic_write(target: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``target`` through a temporary file renamed into place, so a
    reader sees the old file or the new one. On any failure the temporary file is
    removed; an OS error becomes an ArtifactError naming ``target``."""
    tmp = _temp_name(target)
    created = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        created = True
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as exc:
        if created:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise _write_error(str(target), exc) from exc
        raise


def _chunks_of(source: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with open(source, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def _make_folder(folder: Path) -> None:
    """``mkdir -p``, with an ArtifactError saying which part of the path is a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()),
                       None)
        if blocker is not None:
            raise ArtifactError(
                f"Cannot create the artifact folder {folder}: {blocker} is a file, not a "
                "folder. Move or rename that file (artifacts are stored in folders below it), "
                "or give the experiment another artifact location.", str(folder)) from exc
        raise _write_error(str(folder), exc) from exc


_NO_ROOM = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _write_error(path: str, exc: OSError) -> ArtifactError:
    if exc.errno == errno.EISDIR or (exc.errno in (errno.EEXIST, errno.ENOTEMPTY)
                                     and os.path.isdir(path)):
        name = os.path.basename(path)
        return ArtifactError(
            f"Cannot write artifact {path}: a folder of that name exists there, and a file "
            f"cannot replace it. Choose another name, or write into the folder (e.g. "
            f"'{name}/file.txt').", path)
    reason = exc.strerror or str(exc)
    other = os.fspath(exc.filename) if exc.filename else ""
    if exc.errno in _NO_ROOM:
        reason += "; free some space (or raise the limit) and log the artifact again"
    elif other and other != path and not other.endswith(".tmp"):
        reason += f" ({other})"
    return ArtifactError(f"Cannot write artifact {path}: {reason}. Nothing was written.", path)


_FACTORIES: dict[str, Callable[[str], Any]] = {}


def register_artifact_repository(scheme: str, factory: Callable[[str], Any]) -> None:
    """Use ``factory(root_uri)`` for artifact roots of ``scheme`` ('' means local paths)."""
    _FACTORIES[scheme] = factory


def _http_repository(root: str) -> Any:
    from .proxy import PROXY_PATH, ProxyArtifactRepository

    if PROXY_PATH in root:
        return ProxyArtifactRepository(root)
    return FsspecArtifactRepository(root)


register_artifact_repository("", LocalArtifactRepository)
register_artifact_repository("file", LocalArtifactRepository)
register_artifact_repository("http", _http_repository)
register_artifact_repository("https", _http_repository)


def artifact_repository(root: str) -> Any:
    """The repository for an artifact root: a local path or an fsspec URL."""
    if not _is_url(root):
        scheme = "file" if root.startswith("file://") else ""
        return _FACTORIES[scheme](root)
    scheme = root.split("://", 1)[0].lower()
    return _FACTORIES.get(scheme, FsspecArtifactRepository)(root)


from .download import (  # noqa: E402 - MLflow's mlflow.artifacts functions, built on the above
    artifact_location,
    download_artifacts,
    list_artifacts,
    load_dict,
    load_text,
    register_artifact_uri_resolver,
)
