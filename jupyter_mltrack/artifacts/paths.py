"""Validation of artifact paths: nothing a caller passes may leave the artifact root."""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from urllib.parse import unquote

from ..errors import InvalidArtifactPath

_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_PATH = 1024


def clean_artifact_path(path: str | None) -> str:
    """Return ``path`` as a normalised relative POSIX path ('' for the root).

    Refused: absolute paths, ``..`` segments, backslashes, drive letters, NUL and
    control characters, and any percent-encoded form of these (decoded
    repeatedly, so double encoding is caught too).
    """
    if path is None:
        return ""
    if not isinstance(path, str):
        path = os.fspath(path)
        if not isinstance(path, str):
            raise InvalidArtifactPath(f"Artifact path {path!r} must be text.")
    if len(path) > _MAX_PATH:
        raise InvalidArtifactPath(f"Artifact path is longer than {_MAX_PATH} characters.")
    forms = [path]
    decoded = path
    for _ in range(4):
        nxt = unquote(decoded)
        if nxt == decoded:
            break
        forms.append(nxt)
        decoded = nxt
    for form in forms:
        _refuse_bad(form, path)
    if decoded != path:
        raise InvalidArtifactPath(
            f"Artifact path {path!r} contains percent-encoded characters; pass the plain "
            "path (e.g. 'plots/loss.png')."
        )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _refuse_bad(form: str, original: str) -> None:
    how = "Use a relative path inside the run's artifacts, such as 'plots/loss.png'."
    if "\\" in form:
        raise InvalidArtifactPath(f"Artifact path {original!r} contains a backslash. {how}")
    if any(ord(ch) < 32 for ch in form):
        raise InvalidArtifactPath(f"Artifact path {original!r} contains control characters.")
    if form.startswith("/") or form.startswith("~") or _DRIVE.match(form):
        raise InvalidArtifactPath(f"Artifact path {original!r} is absolute. {how}")
    if ".." in form.split("/"):
        raise InvalidArtifactPath(f"Artifact path {original!r} climbs out with '..'. {how}")
    if posixpath.normpath("/" + form).startswith("//"):
        raise InvalidArtifactPath(f"Artifact path {original!r} is malformed. {how}")


def inside(root: Path, relative: str) -> Path:
    """``root/relative`` after resolving symlinks; refused when it leaves ``root``."""
    root_real = root.resolve()
    target = (root / relative).resolve() if relative else root_real
    if target != root_real and root_real not in target.parents:
        raise InvalidArtifactPath(
            f"Artifact path {relative!r} leads outside the run's artifact folder "
            "(through a symbolic link)."
        )
    return target
