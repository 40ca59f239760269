"""The artifact browser of ``show_run``: folders on the left, a preview on the right.

Previews: images (PNG, JPEG, GIF, WebP, SVG), text and code, JSON (pretty),
CSV/TSV (as a sortable table), and saved charts (Vega-Lite JSON, or the HTML that
``log_figure`` writes for an Altair chart), drawn offline.
"""

from __future__ import annotations

import base64
import io
import json
import re
from typing import TYPE_CHECKING, Any

from ..errors import MLTrackError
from . import controls as w
from . import style
from .table import Column, Grid
from .vega import chart_view
from .views import Html

if TYPE_CHECKING:
    import pandas as pd

    from ..tracking.client import Client

IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
               "gif": "image/gif", "webp": "image/webp", "bmp": "image/bmp",
               "svg": "image/svg+xml"}
TEXT_TYPES = {"txt", "log", "md", "py", "yaml", "yml", "toml", "cfg", "ini", "sh", "r",
              "sql", "js", "ts", "rst", "requirements", "in", "lock", "xml", "mlmodel",
              "conda", "env", "gitignore", "dockerfile", "out", "err"}
TABLE_TYPES = {"csv": ",", "tsv": "\t"}
MAX_PREVIEW_BYTES = 20_000_000
MAX_TEXT_CHARS = 200_000
MAX_TABLE_ROWS = 10_000
UP = "../"

_SPEC_IN_HTML = re.compile(r"(?:var|const|let)\s+spec\s*=\s*(\{.*?\});\s*\n", re.DOTALL)


def preview_kind(path: str) -> str:
    """How a file is previewed: image, text, json, table, html or binary."""
    name = path.rsplit("/", 1)[-1].lower()
    ext = name.rsplit(".", 1)[-1] if "." in name else name
    if ext in IMAGE_TYPES:
        return "image"
    if ext == "json" or name.endswith((".vl.json", ".vega.json")):
        return "json"
    if ext in TABLE_TYPES:
        return "table"
    if ext in ("html", "htm"):
        return "html"
    if ext in TEXT_TYPES or name in ("mlmodel", "dockerfile", "makefile", "license", "readme"):
        return "text"
    return "binary"


def chart_from_spec(spec: dict[str, Any]) -> Any:
    """An Altair chart object for a saved Vega-Lite spec (not validated again)."""
    import altair as alt

    kinds = (("layer", alt.LayerChart), ("hconcat", alt.HConcatChart),
             ("vconcat", alt.VConcatChart), ("concat", alt.ConcatChart),
             ("facet", alt.FacetChart), ("repeat", alt.RepeatChart))
    for key, cls in kinds:
        if key in spec:
            return cls.from_dict(spec, validate=False)
    return alt.Chart.from_dict(spec, validate=False)


def is_vega_lite(data: Any) -> bool:
    return isinstance(data, dict) and "vega-lite" in str(data.get("$schema", ""))


def preview(path: str, data: bytes) -> Any:
    """A widget previewing an artifact's bytes."""
    kind = preview_kind(path)
    size = len(data)
    if kind == "image":
        ext = path.rsplit(".", 1)[-1].lower()
        src = base64.b64encode(data).decode("ascii")
        return Html(f'<img class="mlt-img" alt="{style.esc(path)}" '
                    f'src="data:{IMAGE_TYPES[ext]};base64,{src}"/>')
    if kind in ("json", "html", "text", "table"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return Html(style.notice(f"{path} is not UTF-8 text ({size:,} bytes)."))
        if kind == "json":
            return _json_preview(path, text)
        if kind == "html":
            match = _SPEC_IN_HTML.search(text)
            if match:
                try:
                    spec = json.loads(match.group(1))
                except ValueError:
                    spec = None
                if is_vega_lite(spec):
                    return chart_view(chart_from_spec(spec))
            return _text_preview(text, "HTML source (scripts are not run here).")
        if kind == "table":
            return _table_preview(path, text)
        return _text_preview(text)
    return Html(style.notice(
        f"{path}: {size:,} bytes, no preview for this type. Download it with "
        "Client().download_artifacts(run_id, path)."))


def _text_preview(text: str, note: str = "") -> Any:
    cut = len(text) > MAX_TEXT_CHARS
    body = style.esc(text[:MAX_TEXT_CHARS])
    more = (f'<div class="mlt-muted">Showing the first {MAX_TEXT_CHARS:,} of {len(text):,} '
            "characters.</div>") if cut else ""
    head = f'<div class="mlt-muted">{style.esc(note)}</div>' if note else ""
    return Html(f'{head}<pre class="mlt-code">{body}</pre>{more}')


def _json_preview(path: str, text: str) -> Any:
    try:
        data = json.loads(text)
    except ValueError as exc:
        return _text_preview(text, f"Not valid JSON ({exc}); shown as text.")
    if is_vega_lite(data):
        return chart_view(chart_from_spec(data))
    return _text_preview(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _table_preview(path: str, text: str) -> Any:
    import pandas as pd

    sep = TABLE_TYPES[path.rsplit(".", 1)[-1].lower()]
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, nrows=MAX_TABLE_ROWS)
    except (ValueError, pd.errors.ParserError) as exc:
        return _text_preview(text, f"Could not read as a table ({exc}); shown as text.")
    return table_view(frame, note=(f"First {MAX_TABLE_ROWS:,} rows." if len(frame) ==
                                   MAX_TABLE_ROWS else ""))


def table_view(frame: pd.DataFrame, note: str = "") -> Any:
    """A DataFrame as the project's sortable table (no selection)."""
    import pandas as pd

    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    frame.insert(0, "__row__", [str(i) for i in range(len(frame))])
    columns = [Column(c, c, "number" if pd.api.types.is_numeric_dtype(frame[c]) else "text")
               for c in frame.columns if c != "__row__"]
    grid = Grid(frame, columns, id_column="__row__", selection="none", page_size=25,
                max_height=380, sticky=0, empty_message="The file has no rows.")
    if not note:
        return grid
    return w.VBox([Html(f'<div class="mlt-muted">{style.esc(note)}</div>'), grid])


class ArtifactBrowser(w.HBox):
    """Folders and files of one run; clicking a file previews it, a folder opens it."""

    def __init__(self, client: Client, run_id: str):
        self.client = client
        self.run_id = run_id
        self.folder = ""
        self.listing = Grid(id_column="path", selection="single", page_size=200,
                            max_height=380, sticky=0, empty_message="No artifacts logged.")
        self.listing.layout.width = "300px"
        self.listing.layout.min_width = "240px"
        self.preview_box = w.VBox(layout=w.Layout(flex="1 1 auto", min_width="0",
                                                  overflow="auto"))
        self._crumbs = Html()
        self.preview_path: str | None = None
        left = w.VBox([self._crumbs, self.listing])
        super().__init__([left, self.preview_box], layout=w.Layout(grid_gap="16px",
                                                                  width="100%"))
        self.listing.observe(self._on_pick, "_selected")
        self.open_folder("")

    def open_folder(self, folder: str) -> None:
        """List a folder (``""`` is the artifact root)."""
        import pandas as pd

        infos = self.client.list_artifacts(self.run_id, folder or None)
        rows: list[dict[str, Any]] = []
        if folder:
            rows.append({"path": UP, "name": UP, "size": None})
        for info in sorted(infos, key=lambda f: (not f.is_dir, f.path.lower())):
            name = info.path.rsplit("/", 1)[-1] + ("/" if info.is_dir else "")
            rows.append({"path": info.path + ("/" if info.is_dir else ""), "name": name,
                         "size": info.file_size})
        frame = pd.DataFrame(rows, columns=["path", "name", "size"])
        self.folder = folder
        self.listing.set_frame(frame, [Column("name", "Name", "path"),
                                       Column("size", "Size", "size")])
        self.listing.selected = []
        crumb = "artifacts/" + (folder + "/" if folder else "")
        self._crumbs.value = f'<div class="mlt-mono mlt-muted">{style.esc(crumb)}</div>'
        if not rows:
            self.preview_box.children = [Html(style.notice(
                "This run has no artifacts. Log some with log_artifact(), log_figure(), "
                "log_dict() or log_text()."))]

    def open_path(self, path: str) -> None:
        """Preview a file, or open a folder (a path ending in ``/``)."""
        if path == UP:
            self.open_folder(self.folder.rsplit("/", 1)[0] if "/" in self.folder else "")
            return
        if path.endswith("/"):
            self.open_folder(path.rstrip("/"))
            return
        self.preview_path = path
        try:
            data = self.client.read_artifact(self.run_id, path)
        except MLTrackError as exc:
            self.preview_box.children = [Html(style.notice(str(exc), error=True))]
            return
        if len(data) > MAX_PREVIEW_BYTES:
            view: Any = Html(style.notice(
                f"{path} is {len(data):,} bytes; only files up to "
                f"{MAX_PREVIEW_BYTES:,} bytes are previewed."))
        else:
            view = preview(path, data)
        title = Html(f'<div class="mlt-header"><span class="mlt-mono">{style.esc(path)}</span>'
                     f'<span class="mlt-sub">{len(data):,} bytes</span></div>')
        old = self.preview_box.children
        self.preview_box.children = [title, view]
        for child in old:
            child.close()

    def _on_pick(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.open_path(change["new"][-1])
