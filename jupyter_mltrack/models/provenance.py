"""Where a model's bytes came from, and whether loading them may run code.

The store trusts the files its own writer made, not a location: ``log_model`` records a
digest of the model folder it wrote in a run tag (:func:`~jupyter_mltrack.entities.digest_tag`),
and a model loaded through ``runs:/`` or ``models:/`` is trusted only while its files still
have that digest. A pickle uploaded with ``log_artifacts``, files swapped afterwards, or a
folder registered from outside the store need ``trust=True``.

A registered version may pin the digest of the files it was registered with (tag
``mltrack.model.digest``); registering with ``trust=True`` does that, and a version
registered from outside the store also names its origin (``mltrack.model.origin``).

The digest is ``sha256:`` + the SHA-256 of a JSON manifest: the sorted list of
``[relative path, SHA-256 of the file]`` of every file below the folder. A folder
holding a symbolic link, or anything but files and folders, has no digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

#: Model version tag: the digest of the files trusted when the version was registered.
VERSION_DIGEST_TAG = "mltrack.model.digest"
#: Model version tag: the folder or URL a version was copied from when registered.
VERSION_ORIGIN_TAG = "mltrack.model.origin"
#: Version tags only the registry writes (set_model_version_tag refuses them).
RESERVED_VERSION_TAG_PREFIX = "mltrack.model."

_CHUNK = 1 << 20


def folder_digest(folder: str | os.PathLike[str]) -> str | None:
    """The digest of every file below ``folder``; None when it holds a link or a special file."""
    root = Path(folder)
    if not root.is_dir() or root.is_symlink():
        return None
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in dirnames:
            if (here / name).is_symlink():
                return None
        for name in filenames:
            path = here / name
            mode = path.lstat().st_mode
            if not stat.S_ISREG(mode):
                return None
            entries.append([path.relative_to(root).as_posix(), _file_sha256(path)])
    manifest = json.dumps(sorted(entries), separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
