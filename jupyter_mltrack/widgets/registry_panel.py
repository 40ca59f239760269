"""``registry_panel()``: the model registry in the notebook.

Versions with stage badges, aliases, source-run metrics and dates; Promote to
Staging / Production, Archive, Rollback, alias, and Approve / Reject of pending
requests, each behind a confirmation step and with a comment that goes into the
history; errors (a failing gate, say) shown inline; the model's history below.
Every action calls the same registry functions as the Python API and the CLI,
then the panel reads the store again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import registry as reg
from ..entities import ModelVersion, Stage, TransitionRequest
from ..errors import MLTrackError
from ..tracking import quote_literal
from . import controls as w
from . import style
from .static import StaticCopy
from .views import Html

if TYPE_CHECKING:
    from ..tracking.client import Client

MAX_VERSIONS = 50
MAX_HISTORY = 40
MAX_METRICS = 3

_PANEL_CSS = """
<style>
.mltrack-registry .widget-button { border-radius: 4px; }
.mltrack-registry .mlt-reg-actions { gap: 6px; flex-wrap: wrap; }
.mltrack-registry .mlt-reg-confirm { padding: 6px 8px; border-radius: 6px; gap: 8px;
  align-items: center; border: 1px solid color-mix(in srgb, #1f6feb 40%, transparent);
  background: color-mix(in srgb, #1f6feb 7%, transparent); }
.mltrack-registry tr.mlt-reg-selected td {
  background: color-mix(in srgb, var(--jp-brand-color1, #1f6feb) 10%, transparent); }
.mltrack-registry .mlt-nowrap { white-space: nowrap; }
.mltrack-registry td.mlt-reg-note { max-width: 340px; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }
.mltrack-registry tr.mlt-reg-desc td.mlt-reg-note { max-width: none; white-space: normal;
  overflow-wrap: anywhere; color: var(--jp-ui-font-color2, #656d76); padding-top: 0; }
.mltrack-registry tr:has(+ tr.mlt-reg-desc) td { border-bottom: none; }
.mltrack-registry td.mlt-reg-comment-cell { min-width: 120px; overflow-wrap: anywhere; }
.mltrack-registry .mlt-notice.mlt-ok { background: color-mix(in srgb, #1a7f37 11%, transparent);
  color: #1a7f37; }
</style>
"""


def registry_panel(name: str | None = None, *, client: Client | None = None) -> RegistryPanel:
    """The registry panel for model ``name`` (or every registered model, with a chooser)."""
    from ..tracking.fluent import client as client_or_default

    return RegistryPanel(client_or_default(client), name)


def _button(description: str, style_name: str = "", icon: str = "", width: str = "auto"
            ) -> w.Button:
    return w.Button(description=description, button_style=style_name, icon=icon,
                    layout=w.Layout(width=width))


class RegistryPanel(StaticCopy, w.VBox):
    """The widget ``registry_panel()`` returns; drive it from Python like a user would:
    set ``version_select.value``, type into ``comment``, click a button in ``buttons``,
    then ``confirm_button``."""

    def __init__(self, client: Client, name: str | None = None):
        self.client = client
        self._fixed_name = name
        self._action: tuple[str, Callable[[], str]] | None = None
        self._status = ""
        self._header = Html()
        self._versions = Html()
        self._requests = Html()
        self._history = Html()
        self.message = Html()
        self.model_select = w.Dropdown(description="Model", layout=w.Layout(width="260px"))
        self.refresh_button = _button("Refresh", icon="refresh")
        self.version_select = w.Dropdown(description="Version", layout=w.Layout(width="260px"))
        # Width auto: the box stretches to the panel (100% plus its margins ran past it).
        self.comment = w.Textarea(placeholder="Comment (recorded in the history)",
                                  layout=w.Layout(width="auto", height="52px"))
        self.archive_existing = w.Checkbox(value=True, description="Archive the current holder",
                                           indent=False, layout=w.Layout(width="auto"))
        self.alias_input = w.Text(placeholder="alias, e.g. champion",
                                  layout=w.Layout(width="170px"))
        self.request_select = w.Dropdown(description="Request", layout=w.Layout(width="340px"))
        self.buttons: dict[str, w.Button] = {
            "staging": _button("Promote to Staging", "warning", "arrow-up"),
            "production": _button("Promote to Production", "success", "rocket"),
            "archive": _button("Archive", "", "archive"),
            "rollback": _button("Rollback Production", "danger", "undo"),
            "alias": _button("Set alias", "", "tag"),
            "approve": _button("Approve", "success", "check"),
            "reject": _button("Reject", "danger", "times"),
        }
        self.confirm_text = Html()
        self.confirm_button = _button("Confirm", "primary", "check")
        self.cancel_button = _button("Cancel")
        self.confirm_box = w.HBox([self.confirm_text, self.confirm_button, self.cancel_button],
                                  layout=w.Layout(display="none"))
        self.confirm_box.add_class("mlt-reg-confirm")
        for key, button in self.buttons.items():
            button.add_class(f"mlt-reg-{key}")
        for widget, cls in ((self.version_select, "mlt-reg-version"),
                            (self.comment, "mlt-reg-comment"),
                            (self.confirm_button, "mlt-reg-confirm-button"),
                            (self.cancel_button, "mlt-reg-cancel-button"),
                            (self.message, "mlt-reg-message")):
            widget.add_class(cls)
        actions = w.HBox([self.buttons[k] for k in ("staging", "production", "archive",
                                                     "rollback")]
                         + [self.archive_existing])
        actions.add_class("mlt-reg-actions")
        alias_row = w.HBox([self.alias_input, self.buttons["alias"]])
        alias_row.add_class("mlt-reg-actions")
        request_row = w.HBox([self.request_select, self.buttons["approve"],
                              self.buttons["reject"]])
        request_row.add_class("mlt-reg-actions")
        self.requests_box = w.VBox([self._requests, request_row])
        top = w.HBox([self.model_select, self.refresh_button])
        if name is not None:
            top.layout.display = "none"
        super().__init__([
            w.HTML(_PANEL_CSS), self._header, top, self._versions,
            self._version_row(alias_row),
            self.comment, actions, self.confirm_box, self.message, self.requests_box,
            self._history,
        ], layout=w.Layout(width="100%"))
        self.add_class("mltrack-registry")
        self.model_select.observe(self._on_model, names="value")
        self.version_select.observe(lambda _c: self._render_versions(), names="value")
        self.refresh_button.on_click(lambda _b: self.refresh())
        for key, button in self.buttons.items():
            button.on_click(lambda _b, key=key: self.ask(key))
        self.confirm_button.on_click(lambda _b: self.confirm())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.model: Any = None
        self.policy: Any = None
        self.history: list[Any] = []
        self.versions: list[ModelVersion] = []
        self.pending: list[TransitionRequest] = []
        self._metrics: dict[str, dict[str, float]] = {}
        self.refresh()

    def _static_body(self) -> str:
        return "".join(part.value for part in (self._header, self._versions, self._requests,
                                                self._history))

    def _version_row(self, alias_row: w.HBox) -> w.HBox:
        row = w.HBox([self.version_select, alias_row], layout=w.Layout(flex_flow="row wrap"))
        row.add_class("mlt-reg-actions")
        return row

    # -- state ---------------------------------------------------------------------------

    @property
    def name(self) -> str | None:
        """The registered model shown."""
        return self._fixed_name or self.model_select.value

    @property
    def selected_version(self) -> int | None:
        return self.version_select.value

    @property
    def pending_action(self) -> str | None:
        """The action waiting for Confirm, or None."""
        return None if self._action is None else self._action[0]

    @property
    def header_html(self) -> str:
        """The header: the model, its policy, pending requests."""
        return str(self._header.value)

    def refresh(self) -> None:
        """Read the store again and redraw everything."""
        try:
            self._load()
        except MLTrackError as exc:
            self._say(str(exc), error=True)
            return
        with self.hold_sync():
            self._render()

    def _load(self) -> None:
        if self._fixed_name is None:
            names = [m.name for m in reg.search_registered_models(client=self.client)]
            current = self.model_select.value
            self.model_select.unobserve(self._on_model, names="value")
            self.model_select.options = names
            self.model_select.value = current if current in names else (names[0] if names
                                                                        else None)
            self.model_select.observe(self._on_model, names="value")
        name = self.name
        if name is None:
            self.model, self.policy = None, None
            self.versions, self.pending, self.history = [], [], []
            return
        self.model = reg.get_registered_model(name, client=self.client)
        self.policy = reg.get_registry_policy(name, client=self.client)
        self.versions = list(reg.search_model_versions(
            f"name = {quote_literal(name)}", max_results=MAX_VERSIONS, client=self.client))
        self.pending = reg.transition_requests(name, client=self.client)
        self.history = reg.history_records(name, client=self.client)
        run_ids = {v.run_id for v in self.versions if v.run_id}
        self._metrics = {run_id: {} for run_id in run_ids}
        for run in self.client.get_runs(list(run_ids)):
            self._metrics[run.info.run_id] = dict(run.data.metrics)

    def _on_model(self, _change: Any) -> None:
        self.cancel()
        self.message.value = ""
        self.refresh()

    # -- actions -------------------------------------------------------------------------

    def ask(self, key: str) -> None:
        """First step of an action: show what it will do, and wait for Confirm."""
        self.message.value = ""
        self._status = ""
        try:
            text, run = self._plan(key)
        except MLTrackError as exc:
            self._say(str(exc), error=True)
            return
        self._action = (key, run)
        self.confirm_text.value = f'<span class="mlt">{text}</span>'
        self.confirm_box.layout.display = "flex"

    def confirm(self) -> None:
        """Second step: do it, show the outcome, read the store again."""
        if self._action is None:
            return
        _key, run = self._action
        self.cancel()
        try:
            done = run()
        except MLTrackError as exc:
            self.refresh()
            self._say(str(exc), error=True)
            return
        self.comment.value = ""
        self.refresh()
        self._say(done)

    def cancel(self) -> None:
        self._action = None
        self.confirm_box.layout.display = "none"
        self.confirm_text.value = ""

    def _plan(self, key: str) -> tuple[str, Callable[[], str]]:
        name = self.name
        if name is None:
            raise MLTrackError("No registered model yet; register one with register_model().")
        comment = self.comment.value.strip() or None
        if key in ("approve", "reject"):
            request_id = self.request_select.value
            if request_id is None:
                raise MLTrackError("No pending request to decide on.")
            request = next(q for q in self.pending if q.request_id == request_id)
            what = (f"{'Approve' if key == 'approve' else 'Reject'} request #{request_id}: "
                    f"version {request.version} to {request.target_label}, asked by "
                    f"{request.requested_by}?")

            def decide() -> str:
                q = getattr(reg, key)(request_id, comment, client=self.client)
                return f"Request #{q.request_id} {q.status.lower()} by {q.decided_by}."

            return style.esc(what), decide
        if key == "rollback":
            current = [v.version for v in self.versions if v.current_stage == "Production"]
            what = (f"Roll back Production of {name!r}"
                    + (f": version {current[-1]} goes to Archived and the version before it "
                       "returns?" if current else " to the version that held it before?"))

            def roll() -> str:
                v = reg.rollback(name, "Production", comment, client=self.client)
                return f"Rolled back: version {v.version} is in Production again."

            return style.esc(what), roll
        number = self.selected_version
        if number is None:
            raise MLTrackError("Choose a version first.")
        if key == "alias":
            alias = self.alias_input.value.strip()
            if not alias:
                raise MLTrackError("Type an alias first, e.g. champion.")

            def set_alias() -> str:
                out = reg.set_alias(name, alias, number, comment, client=self.client)
                self.alias_input.value = ""
                return self._outcome(out, f"models:/{name}@{alias} is now version {number}.")

            return style.esc(f"Point alias {alias!r} at version {number}?"), set_alias
        stage = {"staging": Stage.STAGING, "production": Stage.PRODUCTION,
                 "archive": Stage.ARCHIVED}[key]
        archive = self.archive_existing.value and stage is not Stage.ARCHIVED
        others = [v.version for v in self.versions
                  if v.current_stage == stage.value and v.version != number]
        needs = self.policy is not None and self.policy.needs_approval(stage.value)
        verb = "Request approval to move" if needs else "Move"
        what = f"{verb} version {number} of {name!r} to {stage.value}?"
        if archive and others:
            what += f" Version {', '.join(map(str, others))} will be archived."

        def move() -> str:
            out = reg.transition_stage(name, number, stage.value, archive_existing=archive,
                                       comment=comment, client=self.client)
            return self._outcome(out, f"Version {number} is now in {stage.value}.")

        return style.esc(what), move

    def _outcome(self, result: Any, done: str) -> str:
        if isinstance(result, TransitionRequest):
            return (f"Request #{result.request_id} opened: version {result.version} to "
                    f"{result.target_label} waits for another user's approval.")
        return done

    @property
    def status(self) -> str:
        """The last outcome or error shown, as plain text ("" when none)."""
        return self._status

    def _say(self, text: str, error: bool = False) -> None:
        self._status = ("Error: " if error else "") + text
        if error:
            self.message.value = style.notice(text, error=True)
        else:
            self.message.value = (f'<div class="mlt-notice mlt-ok">{style.esc(text)}</div>')

    # -- drawing -------------------------------------------------------------------------

    def _render(self) -> None:
        name = self.name
        if name is None:
            self._header.value = style.header("Model registry")
            self._versions.value = style.notice(
                "No registered models yet. Register one with "
                "mltrack.register_model('runs:/<run_id>/model', '<name>') or "
                "mltrack.register_best(...).")
            for part in (self._requests, self._history):
                part.value = ""
            self.version_select.options = []
            self.request_select.options = []
            self.requests_box.layout.display = "none"
            self._render_buttons()
            return
        self._render_header()
        options = [(f"v{v.version} · {v.current_stage}", v.version) for v in self.versions]
        current = self.version_select.value
        self.version_select.options = options
        numbers = [v.version for v in self.versions]
        self.version_select.value = current if current in numbers else (numbers[0] if numbers
                                                                        else None)
        self._render_versions()
        self._render_buttons()
        self._render_requests()
        self._render_history()

    def _render_header(self) -> None:
        assert self.model is not None
        extra = ""
        if self.policy is not None:
            rules = []
            if self.policy.require_approval_for:
                rules.append("approval for " + ", ".join(self.policy.require_approval_for))
            if self.policy.gates:
                rules.append("gates " + ", ".join(f"{k} {v}" for k, v in
                                                  sorted(self.policy.gates.items())))
            extra = (f'<span class="mlt-chip" title="registry policy">policy: '
                     f'{style.esc("; ".join(rules) or "none")}</span>')
        desc = self.model.description or ""
        self._header.value = style.header(f"Model registry · {self.model.name}", desc, extra)

    def _render_versions(self) -> None:
        if not self.versions:
            self._versions.value = style.notice("This model has no active versions.")
            return
        keys: list[str] = []
        for v in self.versions:
            for key in sorted(self._metrics.get(v.run_id or "", {})):
                if key not in keys and not key.startswith("mltrack."):
                    keys.append(key)
        keys = keys[:MAX_METRICS]
        # Narrow outputs (a 630 px output area): metric names may break after "metrics.",
        # the date wraps before its time, and each description gets a full-width line
        # under its version instead of a column cut off at the right edge.
        # Aliases sit with their version, the user with the date.
        head = "<th>Version</th><th>Stage</th><th>Source run</th>"
        head += "".join(f'<th class="mlt-num" title="metrics.{style.esc(k)}">metrics.<wbr>'
                        f"{style.esc(k)}</th>" for k in keys)
        head += "<th>Registered</th>"
        width = 4 + len(keys)
        rows = []
        for v in self.versions:
            metrics = self._metrics.get(v.run_id or "", {})
            chips = "".join(f'<span class="mlt-chip">@{style.esc(a)}</span>' for a in v.aliases)
            run = (f'<span class="mlt-mono" title="{style.esc(v.source)}">'
                   f'{style.esc(v.run_id[:8])}</span>' if v.run_id else
                   f'<span class="mlt-muted" title="{style.esc(v.source)}">folder</span>')
            cells = [f"<td><b>v{v.version}</b> {chips}</td>",
                     f"<td>{style.status_badge(v.current_stage)}</td>", f"<td>{run}</td>"]
            cells += [f'<td class="mlt-num">{style.esc(style.format_number(metrics.get(k)))}'
                      "</td>" for k in keys]
            cells.append(f"<td>{style.esc(style.format_time(v.creation_time))} "
                         f'<span class="mlt-muted">by {style.esc(v.user_id)}</span></td>')
            selected = v.version == self.selected_version
            mark = ' class="mlt-reg-selected"' if selected else ""
            rows.append(f"<tr{mark}>{''.join(cells)}</tr>")
            if v.description:
                cls = "mlt-reg-desc mlt-reg-selected" if selected else "mlt-reg-desc"
                rows.append(f'<tr class="{cls}"><td></td><td class="mlt-reg-note" '
                            f'colspan="{width - 1}">{style.esc(v.description)}</td></tr>')
        self._versions.value = (
            '<div class="mlt-section">Versions</div><div class="mlt-scroll">'
            f'<table class="mlt-tbl"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')

    def _render_buttons(self) -> None:
        policy = self.policy
        for key, stage in (("staging", "Staging"), ("production", "Production")):
            needs = policy is not None and policy.needs_approval(stage)
            self.buttons[key].description = f"{'Request' if needs else 'Promote to'} {stage}"
            self.buttons[key].tooltip = ("Opens a request that another user approves"
                                         if needs else f"Moves the chosen version to {stage}")
        has_versions = bool(self.versions)
        for key in ("staging", "production", "archive", "alias"):
            self.buttons[key].disabled = not has_versions
        holds = any(v.current_stage == "Production" for v in self.versions)
        self.buttons["rollback"].disabled = not holds

    def _render_requests(self) -> None:
        current = self.request_select.value
        self.request_select.options = [
            (f"#{q.request_id}: v{q.version} → {q.target_label} ({q.requested_by})",
             q.request_id) for q in self.pending]
        ids = [q.request_id for q in self.pending]
        self.request_select.value = current if current in ids else (ids[0] if ids else None)
        if not self.pending:
            self.requests_box.layout.display = "none"
            self._requests.value = ""
            return
        self.requests_box.layout.display = "flex"
        rows = "".join(
            f"<tr><td>#{q.request_id}</td><td>v{q.version}</td>"
            f"<td>{style.status_badge(q.target_label, color=style.STATUS_COLORS.get(q.target))}"
            f"</td><td>{style.esc(q.requested_by)}</td>"
            f'<td class="mlt-nowrap">{style.esc(style.format_time(q.requested_time))}</td>'
            f"<td>{style.esc(q.comment or '')}</td></tr>" for q in self.pending)
        self._requests.value = (
            '<div class="mlt-section">Pending approval</div><table class="mlt-tbl"><thead><tr>'
            "<th>Request</th><th>Version</th><th>To</th><th>Asked by</th><th>When</th>"
            f"<th>Comment</th></tr></thead><tbody>{rows}</tbody></table>")

    def _render_history(self) -> None:
        records = list(reversed(self.history))[:MAX_HISTORY]
        rows = []
        for x in records:
            if x.kind == "alias":
                change = (f"@{x.alias}: {_version_text(x.from_value)} → "
                          f"{_version_text(x.to_value)}")
            elif x.kind == "policy":
                change = "policy " + ("removed" if x.action == "delete" else "set")
            elif x.kind == "request":
                change = f"{x.action} {x.to_value or ''}"
            elif x.action == "register":
                change = "registered"
            else:
                change = f"{x.from_value} → {x.to_value}"
            request = f" #{x.request_id}" if x.request_id else ""
            rows.append(
                f"<tr><td>{style.esc(style.format_time(x.timestamp))}</td>"
                f"<td>{'' if x.version is None else 'v' + str(x.version)}</td>"
                f"<td>{style.esc(x.kind)} {style.esc(x.action)}{style.esc(request)}</td>"
                f"<td>{style.esc(change)}</td><td>{style.esc(x.user_id)}</td>"
                f'<td class="mlt-reg-comment-cell">{style.esc(x.comment or "")}</td></tr>')
        more = (f'<div class="mlt-muted">The newest {MAX_HISTORY} of {len(self.history)} '
                "changes; mltrack.history(name) has them all.</div>"
                if len(self.history) > MAX_HISTORY else "")
        self._history.value = (
            '<div class="mlt-section">History</div><div class="mlt-scroll">'
            '<table class="mlt-tbl"><thead><tr><th>When</th><th>Version</th><th>What</th>'
            "<th>Change</th><th>By</th><th>Comment</th></tr>"
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>{more}')


def _version_text(value: str | None) -> str:
    return "none" if value is None else f"v{value}"
