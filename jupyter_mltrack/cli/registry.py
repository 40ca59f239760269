"""``mltrack models ...``: the model registry for pipelines.

Exit codes: 0 done; 1 refused or failed (a failing gate, a denied approval, an
unknown version: the message says why); 2 usage error; 3 the change needs
approval, so a request was opened and nothing moved yet.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from typing import Any

import click

from . import client_from, emit, main

PENDING_EXIT = 3


def _models_group() -> click.Group:
    """The ``models`` group, shared with other commands that may define it first."""
    existing = main.commands.get("models")
    if isinstance(existing, click.Group):
        return existing

    @main.group("models")
    def models() -> None:
        """Registered models: register, promote, approve, roll back, list, history.

        Exit codes: 0 done, 1 refused or failed, 2 usage error, 3 a request was
        opened and awaits approval.
        """

    return models


models = _models_group()


def _time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _version_row(v: Any) -> dict[str, Any]:
    return {"name": v.name, "version": v.version, "stage": v.current_stage,
            "aliases": ",".join(v.aliases), "run_id": v.run_id, "source": v.source,
            "created": _time(v.creation_time), "user": v.user_id,
            "description": v.description, "tags": v.tags, "deleted": v.deleted}


def _request_row(q: Any) -> dict[str, Any]:
    return {"request_id": q.request_id, "name": q.name, "version": q.version,
            "target": q.target_label, "status": q.status, "requested_by": q.requested_by,
            "requested": _time(q.requested_time), "comment": q.comment,
            "decided_by": q.decided_by, "decided": _time(q.decided_time),
            "decision_comment": q.decision_comment}


def _outcome(result: Any, as_json: bool, done: str) -> None:
    """Print a version or an opened request; exit 3 for a request."""
    from ..entities import TransitionRequest

    if isinstance(result, TransitionRequest):
        if as_json:
            click.echo(json.dumps({"pending_request": _request_row(result)}, default=str))
        else:
            click.echo(f"Approval needed: request {result.request_id} to move version "
                       f"{result.version} of {result.name!r} to {result.target_label} is "
                       f"pending. Another user approves it with: mltrack models approve "
                       f"{result.request_id}")
        sys.exit(PENDING_EXIT)
    if as_json:
        click.echo(json.dumps(_version_row(result), default=str))
    else:
        click.echo(done)


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: write {what} as KEY=VALUE.")
        out[key] = value
    return out


@models.command("register")
@click.argument("model_uri")
@click.argument("name")
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE tag of the version (repeatable).")
@click.option("--description", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def register(ctx: click.Context, model_uri: str, name: str, tags: tuple[str, ...],
             description: str | None, as_json: bool) -> None:
    """Register MODEL_URI (runs:/<run>/model, a folder, models:/...) as a version of NAME.

    The run of a runs:/ URI may be given by a unique start of its id, or its name.
    """
    from ..registry import register_model

    c = client_from(ctx)
    v = register_model(_full_run_uri(c, model_uri), name, _pairs(tags, "--tag"), description,
                       client=c)
    _outcome(v, as_json, f"Registered {v.name!r} version {v.version} from {v.source}.")


def _full_run_uri(client: Any, model_uri: str) -> str:
    """``runs:/<id prefix or run name>/path`` with the run's full id."""
    if not model_uri.startswith("runs:/"):
        return model_uri
    ref, slash, path = model_uri[len("runs:/"):].lstrip("/").partition("/")
    if not ref:
        return model_uri
    return f"runs:/{client.find_run(ref).info.run_id}{slash}{path}"


@models.command("register-best")
@click.argument("experiment")
@click.argument("metric")
@click.option("--mode", type=click.Choice(["max", "min"]), default="max", show_default=True)
@click.option("--filter", "filter_string", default=None, help="Narrow the runs (search filter).")
@click.option("--name", default=None, help="Registered model name (default: the experiment's).")
@click.option("--model-path", default="model", show_default=True)
@click.option("--promote-to", default=None, help="Stage to move the version to afterwards.")
@click.option("--force-stage", is_flag=True,
              help="Move the version to --promote-to even if that is down (Production to "
                   "Staging).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def register_best_cmd(ctx: click.Context, experiment: str, metric: str, mode: str,
                      filter_string: str | None, name: str | None, model_path: str,
                      promote_to: str | None, force_stage: bool, as_json: bool) -> None:
    """Register the model of EXPERIMENT's best finished run by METRIC.

    Nothing new is registered while the best run is registered already, and the
    version is never moved down a stage unless --force-stage.
    """
    from ..registry.versions import best_registration

    done = best_registration(experiment, metric, mode, filter_string, name, model_path,
                             promote_to, force_stage=force_stage, client=client_from(ctx))
    if done.request is not None:
        _outcome(done.request, as_json, "")
    v = done.version
    if as_json:
        click.echo(json.dumps({**_version_row(v), "registered": done.registered,
                               "stage_before": done.stage_before,
                               "kept_stage": done.kept_stage}, default=str))
        return
    if done.registered:
        text = f"Registered {v.name!r} version {v.version} from {v.source}"
        text += f" (stage {v.current_stage})." if v.current_stage == done.stage_before else \
            f"; it is now in {v.current_stage}."
    else:
        text = (f"The best run ({done.run_name}, {done.run_id[:8]}) is already registered "
                f"as {v.name} version {v.version} ({done.stage_before}); nothing registered.")
        if done.kept_stage is not None:
            text += (f" It stays in {done.kept_stage}: pass --force-stage to move it to "
                     f"{_stage_title(promote_to)}.")
        elif v.current_stage != done.stage_before:
            text += f" It is now in {v.current_stage}."
    click.echo(text)


def _stage_title(stage: str | None) -> str:
    from ..entities import Stage

    return Stage.parse(stage).value


@models.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--stage", default="Production", show_default=True,
              help="None, Staging, Production or Archived.")
@click.option("--keep-existing", is_flag=True,
              help="Leave the versions now in the stage there (default: archive them).")
@click.option("--comment", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def promote_cmd(ctx: click.Context, name: str, version: str, stage: str, keep_existing: bool,
                comment: str | None, as_json: bool) -> None:
    """Move VERSION of NAME to a stage (Production by default). Exit 3 when it needs approval."""
    from ..registry import transition_stage

    result = transition_stage(name, version, stage, archive_existing=not keep_existing,
                              comment=comment, client=client_from(ctx))
    _outcome(result, as_json, f"{name!r} version {version} is now in {stage.title()}.")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", "remove", is_flag=True, help="Remove the alias.")
@click.option("--comment", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def alias_cmd(ctx: click.Context, name: str, alias: str, version: str | None, remove: bool,
              comment: str | None, as_json: bool) -> None:
    """Point ALIAS of NAME at VERSION, or remove it with --delete."""
    from ..registry import delete_alias, set_alias

    c = client_from(ctx)
    if remove:
        delete_alias(name, alias, comment, client=c)
        click.echo(json.dumps({"deleted": alias}) if as_json else f"Removed alias {alias!r}.")
        return
    if version is None:
        raise click.UsageError("Give the VERSION the alias should point at, or --delete.")
    result = set_alias(name, alias, version, comment, client=c)
    _outcome(result, as_json, f"models:/{name}@{alias} is now version {version}.")


def _decide(ctx: click.Context, how: str, request_id: str, comment: str | None,
            as_json: bool) -> None:
    from .. import registry

    q = getattr(registry, how)(request_id, comment, client=client_from(ctx))
    if as_json:
        click.echo(json.dumps(_request_row(q), default=str))
    else:
        click.echo(f"Request {q.request_id} ({q.name!r} version {q.version} to "
                   f"{q.target_label}) is {q.status.lower()} by {q.decided_by}.")


@models.command("approve")
@click.argument("request_id")
@click.option("--comment", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def approve_cmd(ctx: click.Context, request_id: str, comment: str | None, as_json: bool) -> None:
    """Approve a pending request; the change is applied if the gates pass."""
    _decide(ctx, "approve", request_id, comment, as_json)


@models.command("reject")
@click.argument("request_id")
@click.option("--comment", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def reject_cmd(ctx: click.Context, request_id: str, comment: str | None, as_json: bool) -> None:
    """Reject a pending request; nothing moves."""
    _decide(ctx, "reject", request_id, comment, as_json)


@models.command("requests")
@click.argument("name", required=False)
@click.option("--status", default="PENDING", show_default=True,
              help="PENDING, APPROVED, REJECTED, CANCELLED or ALL.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def requests_cmd(ctx: click.Context, name: str | None, status: str, as_json: bool) -> None:
    """List transition requests (pending ones by default)."""
    from ..registry import transition_requests

    wanted = None if status.upper() == "ALL" else status
    rows = [_request_row(q) for q in transition_requests(name, wanted, client=client_from(ctx))]
    emit(rows, ["request_id", "name", "version", "target", "status", "requested_by",
                "requested", "comment"], as_json)


@models.command("rollback")
@click.argument("name")
@click.option("--stage", default="Production", show_default=True)
@click.option("--comment", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rollback_cmd(ctx: click.Context, name: str, stage: str, comment: str | None,
                 as_json: bool) -> None:
    """Put back the version that held the stage before the current one."""
    from ..registry import rollback

    v = rollback(name, stage, comment, client=client_from(ctx))
    _outcome(v, as_json, f"Rolled back: {name!r} version {v.version} is in "
             f"{v.current_stage} again.")


@models.command("list")
@click.argument("name", required=False)
@click.option("--filter", "filter_string", default=None,
              help="Search filter, e.g. \"stage = 'Production'\" or \"tags.team = 'risk'\".")
@click.option("--deleted", is_flag=True, help="Include deleted versions.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_cmd(ctx: click.Context, name: str | None, filter_string: str | None, deleted: bool,
             as_json: bool) -> None:
    """List registered models, or the versions of NAME."""
    from ..registry import search_model_versions, search_registered_models
    from ..store.search import quote_literal as quote

    c = client_from(ctx)
    if name is None and not deleted and (filter_string is None or not _mentions_version(
            filter_string)):
        rows = []
        for m in search_registered_models(filter_string, client=c):
            stages = {v.current_stage: v.version for v in m.latest_versions}
            rows.append({"name": m.name, "staging": stages.get("Staging"),
                         "production": stages.get("Production"),
                         "aliases": ",".join(f"{a}={v}" for a, v in m.aliases.items()),
                         "updated": _time(m.last_updated_time), "description": m.description,
                         "tags": m.tags})
        emit(rows, ["name", "production", "staging", "aliases", "updated"], as_json)
        return
    parts = [f"name = {quote(name)}"] if name else []
    if filter_string:
        parts.append(f"({filter_string})")
    found = search_model_versions(" AND ".join(parts) or None, include_deleted=deleted,
                                  client=c)
    emit([_version_row(v) for v in found],
         ["name", "version", "stage", "aliases", "run_id", "created", "user"], as_json)


def _mentions_version(text: str) -> bool:
    return bool(re.search(r"\b(version|stage|current_stage|run_id|alias|metrics?|params?)\b",
                          text, re.IGNORECASE))


@models.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def history_cmd(ctx: click.Context, name: str, as_json: bool) -> None:
    """Every stage, alias, request and policy change of NAME: who, when, from, to, why."""
    from ..registry import history_records

    rows = [{"time": _time(x.timestamp), "version": x.version, "kind": x.kind,
             "action": x.action, "alias": x.alias, "from": x.from_value, "to": x.to_value,
             "user": x.user_id, "comment": x.comment, "request_id": x.request_id}
            for x in history_records(name, client=client_from(ctx))]
    emit(rows, ["time", "version", "kind", "action", "alias", "from", "to", "user", "comment"],
         as_json)


_GATE = re.compile(r"^\s*(metrics?\.[^<>=!\s]+)\s*((?:>=|<=|==|!=|>|<|=).*)$")


@models.command("policy")
@click.argument("name")
@click.option("--require-approval", multiple=True,
              help="Stage (or @alias) whose changes need approval (repeatable).")
@click.option("--gate", "gates", multiple=True,
              help="Metric gate such as 'metrics.acc>=0.9' (repeatable).")
@click.option("--gated-stage", multiple=True, help="Stages the gates guard (repeatable).")
@click.option("--allow-self-approval", is_flag=True)
@click.option("--clear", is_flag=True, help="Remove the policy.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def policy_cmd(ctx: click.Context, name: str, require_approval: tuple[str, ...],
               gates: tuple[str, ...], gated_stage: tuple[str, ...], allow_self_approval: bool,
               clear: bool, as_json: bool) -> None:
    """Show NAME's policy, or set it from the options (replacing the old one)."""
    from ..registry import delete_registry_policy, get_registry_policy, set_registry_policy

    c = client_from(ctx)
    policy: Any
    if clear:
        delete_registry_policy(name, client=c)
        click.echo(json.dumps({"policy": None}) if as_json else f"Removed the policy of {name!r}.")
        return
    if require_approval or gates or gated_stage or allow_self_approval:
        parsed = {}
        for gate in gates:
            match = _GATE.match(gate)
            if match is None:
                raise click.BadParameter(f"{gate!r}: write a gate as 'metrics.<key>>=0.9'.",
                                         param_hint="--gate")
            parsed[match.group(1)] = match.group(2)
        policy = set_registry_policy(name, require_approval, parsed, gated_stage,
                                     allow_self_approval, client=c)
    else:
        policy = get_registry_policy(name, client=c)
    data = None if policy is None else {
        "require_approval_for": list(policy.require_approval_for), "gates": policy.gates,
        "gated_stages": list(policy.gated_stages),
        "allow_self_approval": policy.allow_self_approval, "updated_by": policy.updated_by,
        "updated": _time(policy.updated_time)}
    if as_json:
        click.echo(json.dumps({"policy": data}))
    elif data is None:
        click.echo(f"{name!r} has no policy: every change is direct.")
    else:
        for key, value in data.items():
            click.echo(f"{key + ':':<22}{value}")
