"""Runs as the widgets and charts see them: a wide frame, and a short unique label per run.

Light on purpose (pandas only, no Altair, and pandas itself on first use), so that
``compare()`` builds its table without loading the chart library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..entities import Run
from ..errors import InvalidParameter
from ..tracking import fluent

if TYPE_CHECKING:
    import pandas as pd

    from ..tracking.client import Client

#: Longest run name a label keeps; longer names lose their middle ("softmax-lr0…-m0.9").
NAME_CHARS = 28


def _shorten(name: str) -> str:
    if len(name) <= NAME_CHARS:
        return name
    head = (NAME_CHARS - 1) // 2
    return name[:head] + "…" + name[-(NAME_CHARS - 1 - head):]


def run_labels(frame: pd.DataFrame) -> dict[str, str]:
    """A label per run id: its name (middle cut when long), with a short id where labels
    would repeat, so that every label names one run and fits an axis or a legend."""
    ids = frame["run_id"].astype(str).tolist()
    names = frame["run_name"].tolist() if "run_name" in frame else [None] * len(ids)
    return labels_of(ids, names)


def labels_of(ids: Sequence[str], names: Sequence[Any]) -> dict[str, str]:
    """:func:`run_labels` of run ids and their names (None or '' where unnamed)."""
    short = [_shorten(str(n)) if isinstance(n, str) and n else "" for n in names]
    seen: dict[str, int] = {}
    for s in short:
        seen[s] = seen.get(s, 0) + 1
    labels: dict[str, str] = {}
    for run_id, s in zip(ids, short, strict=True):
        if not s:
            labels[run_id] = run_id[:8]
        elif seen[s] > 1:
            labels[run_id] = f"{s} ({run_id[:6]})"
        else:
            labels[run_id] = s
    return labels


def runs_frame(runs: Any, client: Client | None = None) -> pd.DataFrame:
    """The wide run frame (as ``search_runs`` returns it) for anything naming runs."""
    import pandas as pd

    if isinstance(runs, pd.DataFrame):
        if "run_id" not in runs.columns:
            raise InvalidParameter(
                "The DataFrame needs a run_id column; pass the result of search_runs()."
            )
        return runs
    if isinstance(runs, (str, Run)):
        runs = [runs]
    if isinstance(runs, pd.Series):
        runs = runs.tolist()
    if not isinstance(runs, Sequence) or isinstance(runs, (bytes, Mapping)):
        raise InvalidParameter(
            f"Cannot read runs from {type(runs).__name__}; pass search_runs() output, "
            "Run objects or run ids."
        )
    objects = [r for r in runs if isinstance(r, Run)]
    ids = [r for r in runs if isinstance(r, str)]
    if len(objects) + len(ids) != len(runs):
        raise InvalidParameter("Pass Run objects or run id strings (or a search_runs() frame).")
    frames = []
    if objects:
        frames.append(_frame_of_runs(objects))
    if ids:
        frames.append(frame_of_ids(fluent.client(client), ids))
    if not frames:
        return pd.DataFrame({"run_id": [], "run_name": []})
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def frame_of_ids(client: Client, run_ids: Sequence[str]) -> pd.DataFrame:
    """The wide frame of some runs, in the order given (unknown ids raise RunNotFound)."""
    import pandas as pd

    from ..errors import RunNotFound

    parts = []
    for i in range(0, len(run_ids), 200):
        chunk = list(run_ids[i:i + 200])
        quoted = ", ".join("'" + r.replace("'", "") + "'" for r in chunk)
        frame, _ = client.search_runs_frame(None, f"attributes.run_id IN ({quoted})",
                                            run_view_type="all")
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    found = set(frame["run_id"])
    missing = [r for r in run_ids if r not in found]
    if missing:
        raise RunNotFound(f"No run with id {missing[0]!r}.")
    order = {r: i for i, r in enumerate(run_ids)}
    return frame.sort_values("run_id", key=lambda s: s.map(order)).reset_index(drop=True)


def _frame_of_runs(runs: Sequence[Run]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for run in runs:
        row: dict[str, Any] = {"run_id": run.info.run_id, "run_name": run.info.run_name,
                               "status": run.info.status, "experiment_id": run.info.experiment_id}
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
        rows.append(row)
    return pd.DataFrame(rows)
