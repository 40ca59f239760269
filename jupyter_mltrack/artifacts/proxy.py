"""Artifacts behind a team server's artifact proxy (``/api/2.0/mlflow-artifacts/``).

A run on a team server has an ``mlflow-artifacts:/<path>`` root; the remote store hands
it out as ``http(s)://server/api/2.0/mlflow-artifacts/artifacts/<path>``, which this
repository reads and writes file by file through the server (with the store's
credentials), so a client needs no access to the bucket behind it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from ..entities import FileInfo
from ..errors import ArtifactError, NotFound
from .paths import clean_artifact_path

PROXY_PATH = "/api/2.0/mlflow-artifacts/artifacts"


class ProxyArtifactRepository:
    """The files under one root of a team server's artifact proxy."""

    def __init__(self, root: str):
        from .._http import HttpSession

        base, sep, rel = root.partition(PROXY_PATH)
        if not sep:
            raise ArtifactError(f"{root!r} is not a team server artifact URL "
                                f"(http(s)://host{PROXY_PATH}/...).", root)
        self.root = root.rstrip("/")
        self.rel = rel.strip("/")
        self.http = HttpSession(base)

    def _rel(self, path: str) -> str:
        clean = clean_artifact_path(path) if path else ""
        return "/".join(p for p in (self.rel, clean) if p)

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        target = self._rel(artifact_file)
        status, body = self.http.raw("PUT", f"{PROXY_PATH}/{quote(target)}", data,
                                     {"Content-Type": "application/octet-stream"})
        if status >= 400:
            raise ArtifactError(f"The server refused {artifact_file!r} ({status}): "
                                f"{body[:300].decode(errors='replace')}", artifact_file)

    def log_file(self, local_file: str | os.PathLike[str], artifact_path: str = "") -> str:
        name = Path(local_file).name
        target = f"{artifact_path.strip('/')}/{name}" if artifact_path.strip("/") else name
        self.write_bytes(target, Path(local_file).read_bytes())
        return target

    def log_dir(self, local_dir: str | os.PathLike[str], artifact_path: str = "") -> None:
        base = Path(local_dir)
        for file in sorted(p for p in base.rglob("*") if p.is_file()):
            sub = file.parent.relative_to(base).as_posix()
            self.log_file(file, "/".join(p for p in (artifact_path.strip("/"),
                                                     "" if sub == "." else sub) if p))

    def read_bytes(self, artifact_file: str) -> bytes:
        status, body = self.http.raw("GET", f"{PROXY_PATH}/{quote(self._rel(artifact_file))}")
        if status == 404:
            raise NotFound(f"No artifact file {artifact_file!r}.")
        if status >= 400:
            raise ArtifactError(f"Cannot read {artifact_file!r} ({status}).", artifact_file)
        return body

    def list(self, path: str = "") -> list[FileInfo]:
        rel = self._rel(path)
        status, body = self.http.raw("GET", f"{PROXY_PATH}?path={quote(rel)}")
        if status >= 400:
            raise ArtifactError(f"Cannot list {path!r} ({status}).", path)
        prefix = path.strip("/")
        return [FileInfo("/".join(p for p in (prefix, f["path"]) if p), bool(f["is_dir"]),
                         f.get("file_size"))
                for f in json.loads(body).get("files", [])]

    def download(self, path: str, dst: str | os.PathLike[str]) -> str:
        folder = Path(dst)
        entries = self.list(path) if path else self.list("")
        name = path.strip("/").rsplit("/", 1)[-1] if path.strip("/") else ""
        if path and not entries:  # a file
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read_bytes(path))
            return str(target)
        out = folder / name if name else folder
        out.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            if entry.is_dir:
                self.download(entry.path, out)
            else:
                (out / entry.path.rsplit("/", 1)[-1]).write_bytes(self.read_bytes(entry.path))
        return str(out)

    def delete_all(self) -> None:
        raise ArtifactError("Artifacts on a team server are removed on the server "
                            "(mltrack gc there).", self.root)
