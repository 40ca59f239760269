"""Side by side: 2-5 runs in columns, differing rows highlighted, and the diff of
their cell sources (recorded by ``%%track`` and the notebook context as a tag)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import style
from .style import esc

if TYPE_CHECKING:
    import pandas as pd

#: Tags that may hold a run's cell source, newest convention first.
CELL_SOURCE_TAGS = ("mltrack.notebook.cell_source", "mltrack.source.cell")
MIN_RUNS, MAX_RUNS = 2, 5
#: Fields that differ between any two runs: shown, never highlighted.
_ALWAYS_DIFFERENT = {"started", "duration", "run id"}


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def cell_source(row: pd.Series) -> str | None:
    """The cell source recorded for a run (a row of the runs frame), if any."""
    for tag in CELL_SOURCE_TAGS:
        value = row.get(f"tags.{tag}")
        if isinstance(value, str) and value.strip():
            return value
    return None


def field_rows(frame: pd.DataFrame) -> list[tuple[str, str, list[Any]]]:
    """(group, field, values per run) for every field shown side by side."""
    rows: list[tuple[str, str, list[Any]]] = []
    attributes = [("status", "status"), ("start_time", "started"), ("duration", "duration"),
                  ("user_id", "user"), ("experiment", "experiment"), ("run_id", "run id")]
    for column, label in attributes:
        if column in frame.columns:
            rows.append(("Run", label, frame[column].tolist()))
    for prefix, group in (("params.", "Params"), ("metrics.", "Metrics"), ("tags.", "Tags")):
        for column in sorted(c for c in frame.columns if c.startswith(prefix)):
            key = column[len(prefix):]
            if group == "Tags" and key.startswith("mltrack."):
                continue
            values = frame[column].tolist()
            if all(_text(v) == "" for v in values):
                continue
            rows.append((group, key, values))
    return rows


def _cell(group: str, field: str, value: Any) -> str:
    if field == "status" and value:
        return f"<td>{style.status_badge(str(value))}</td>"
    if field == "duration":
        return f'<td class="mlt-num">{esc(style.format_duration(value))}</td>'
    if field == "started":
        started = value.timestamp() if hasattr(value, "timestamp") and value == value else None
        ms = None if started is None else int(started * 1000)
        return f"<td>{esc(style.format_time(ms))}</td>"
    if _text(value) == "":
        return '<td class="mlt-empty"></td>'  # not logged by this run
    if group == "Metrics":
        shown = esc(style.format_number(value))
        return f'<td class="mlt-num" title="{esc(_text(value))}">{shown}</td>'
    text = _text(value)
    short = text if len(text) <= 80 else text[:77] + "…"
    return f'<td title="{esc(text)}">{esc(short)}</td>'


def select_notice(selected: int) -> str:
    """What the Side by side tab says while fewer or more runs than it takes are selected."""
    return style.notice(
        f"Select {MIN_RUNS} to {MAX_RUNS} runs in the table to compare them side by side "
        f"({selected} selected)."
    )


def side_by_side_html(frame: pd.DataFrame, labels: Sequence[str], colors: Sequence[str],
                      only_differences: bool = False) -> str:
    """The comparison table of the runs in ``frame`` (one row per run, in column order)."""
    if not MIN_RUNS <= len(frame) <= MAX_RUNS:
        return select_notice(len(frame))
    head = "".join(
        f'<th><span class="mlt-swatch" style="background:{c}"></span>{esc(lab)}</th>'
        for lab, c in zip(labels, colors, strict=False)
    )
    body = []
    group_now = None
    differing = 0
    for group, field, values in field_rows(frame):
        texts = {_text(v) for v in values}
        differs = len(texts) > 1 and field not in _ALWAYS_DIFFERENT
        differing += differs
        if only_differences and not differs:
            continue
        if group != group_now:
            span = len(values) + 1
            body.append(f'<tr class="mlt-group"><td colspan="{span}">{esc(group)}</td></tr>')
            group_now = group
        cls = ' class="mlt-diff"' if differs else ""
        cells = "".join(_cell(group, field, v) for v in values)
        body.append(f"<tr{cls}><th>{esc(field)}</th>{cells}</tr>")
    summary = (f'<div class="mlt-muted" style="margin:2px 0 6px 0">{differing} field'
               f'{"s" if differing != 1 else ""} differ; differing rows are highlighted.</div>')
    # No height cap: a capped box hid the rows below Params (Metrics, Tags) in its scroll.
    table = (f'<div class="mlt-scroll"><table class="mlt-tbl mlt-side">'
             f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    sources = [(lab, cell_source(row))
               for lab, (_, row) in zip(labels, frame.iterrows(), strict=True)]
    return summary + table + source_diff_html(sources)


def source_diff_html(sources: Sequence[tuple[str, str | None]]) -> str:
    """Each run's cell source against the first run's, as colored unified diffs."""
    out = ['<div class="mlt-section">Cell source</div>']
    have = [(lab, src) for lab, src in sources if src is not None]
    missing = [lab for lab, src in sources if src is None]
    if not have:
        out.append(style.notice(
            "No cell source is recorded for these runs. Runs made with %%track record "
            f"their cell as the tag {CELL_SOURCE_TAGS[0]}."
        ))
        return "".join(out)
    if missing:
        out.append(style.notice(f"No cell source recorded for: {', '.join(missing)}."))
    base_label, base = have[0]
    if len(have) == 1:
        out.append(f'<div class="mlt-muted">Source of {esc(base_label)}:</div>'
                   f'<pre class="mlt-code">{esc(base)}</pre>')
        return "".join(out)
    for label, source in have[1:]:
        if source == base:
            out.append(f'<div class="mlt-muted">{esc(label)}: same cell source as '
                       f'{esc(base_label)}.</div>')
            continue
        out.append(f'<div style="margin-top:6px"><b>{esc(base_label)}</b> → '
                   f"<b>{esc(label)}</b></div>")
        out.append(diff_block(base, source, base_label, label))
    out.append(f'<details class="mlt-details"><summary>Full source of {esc(base_label)}</summary>'
               f'<pre class="mlt-code">{esc(base)}</pre></details>')
    return "".join(out)


def diff_block(old: str, new: str, old_name: str = "a", new_name: str = "b") -> str:
    """A unified diff of two sources as a colored code block."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name,
                                 n=2, lineterm="")
    rendered = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            cls = "mlt-diff-hunk"
        elif line.startswith("+"):
            cls = "mlt-diff-add"
        elif line.startswith("-"):
            cls = "mlt-diff-del"
        else:
            cls = ""
        rendered.append(f'<span class="mlt-diff-line {cls}">{esc(line) or " "}</span>')
    return f'<pre class="mlt-code mlt-diff">{"".join(rendered)}</pre>'
