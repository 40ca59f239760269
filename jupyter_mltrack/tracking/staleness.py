"""Is a ``%%track`` result still attributed to code that exists?

A ``%%track`` run records the SHA-256 of its cell and its notebook's path. When no cell
of the notebook file on disk has that hash any more (the cell was edited, deleted, or
not saved yet), the run is *stale*: ``show_run()`` and ``compare()`` mark it. A missing
notebook counts only for runs made on this machine. Notebooks are read once per change
of their modification time, so checking many runs is cheap.

This lives in the tracking service so that every face (widgets, projects, the CLI) can
ask it; the notebook face hashes cells with :func:`cell_digest` from here.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .context import HOST

CELL_HASH = "mltrack.notebook.cell_hash"
CELL_SOURCE = "mltrack.notebook.cell_source"
NOTEBOOK_PATH = "mltrack.notebook.path"

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], dict[int, set[str]]]] = {}


def cell_digest(source: str) -> str:
    """The hash a run records for its cell's source (``mltrack.notebook.cell_hash``)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def cell_hashes(path: Path) -> dict[int, set[str]]:
    """Cell index -> the hashes its source may have been recorded under (cached by mtime)."""
    key = str(path)
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    data = json.loads(path.read_text(encoding="utf-8"))
    hashes: dict[int, set[str]] = {}
    for i, cell in enumerate(data.get("cells") or []):
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        hashes[i] = {cell_digest(text), cell_digest(text.rstrip("\n")), cell_digest(text.rstrip())}
    with _lock:
        _cache[key] = (stamp, hashes)
    return hashes


def stale_reason(tags: Mapping[str, Any]) -> str | None:
    """Why a ``%%track`` run's cell is not in its notebook any more; None when it is
    (or when the run is not a ``%%track`` run with a known notebook)."""
    cell_hash = tags.get(CELL_HASH)
    path = tags.get(NOTEBOOK_PATH)
    source = str(tags.get(CELL_SOURCE) or "")
    if not cell_hash or not path or not isinstance(path, str) or \
            not source.lstrip().startswith("%%track"):
        return None
    file = Path(path)
    try:
        hashes = cell_hashes(file)
    except FileNotFoundError:
        # Only this machine can tell a deleted notebook from one that lives elsewhere.
        if tags.get(HOST) == socket.gethostname():
            return f"its notebook {file.name} is not on disk any more"
        return None
    except (OSError, ValueError):
        return None
    if any(cell_hash in h for h in hashes.values()):
        return None
    return (f"its cell is no longer in {file.name} (edited, deleted or not saved since "
            "the run)")


def is_stale(run: Any) -> bool:
    """True when a ``%%track`` run's cell has changed in its notebook since it ran."""
    return stale_reason(run.data.tags) is not None


def stale_flags(frame: Any) -> list[bool]:
    """For each row of a ``search_runs`` frame: is that run stale?"""
    hash_col = f"tags.{CELL_HASH}"
    if hash_col not in getattr(frame, "columns", ()):
        return [False] * len(frame)
    cols = [hash_col, f"tags.{NOTEBOOK_PATH}", f"tags.{CELL_SOURCE}", f"tags.{HOST}"]
    present = [c for c in cols if c in frame.columns]
    flags = []
    for row in frame[present].itertuples(index=False):
        tags = {c[len("tags."):]: v for c, v in zip(present, row, strict=True)
                if isinstance(v, str)}
        flags.append(stale_reason(tags) is not None)
    return flags


def stale_row_flags(rows: Sequence[Mapping[str, Any]]) -> list[bool]:
    """:func:`stale_flags` of runs as plain rows (dicts keyed as a frame's columns)."""
    keys = (CELL_HASH, NOTEBOOK_PATH, CELL_SOURCE, HOST)
    flags = []
    for row in rows:
        tags = {k: row[f"tags.{k}"] for k in keys if isinstance(row.get(f"tags.{k}"), str)}
        flags.append(CELL_HASH in tags and stale_reason(tags) is not None)
    return flags
