"""``mltrack models ...``: what a pipeline sees, exit codes included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jupyter_mltrack import Client
from jupyter_mltrack import registry as r
from jupyter_mltrack.cli import main
from tests.registry_helpers import log_run, tiny_model


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    uri = f"sqlite:///{tmp_path / '.mltrack' / 'mltrack.db'}"
    monkeypatch.setenv("MLTRACK_USER", "alice")
    client = Client(uri)
    exp = client.create_experiment("cli")
    runs = [log_run(client, exp, {"acc": a}) for a in (0.8, 0.95)]
    return {"uri": uri, "client": client, "runs": runs}


def run(env: dict, *args: str, user: str = "alice") -> object:
    result = CliRunner().invoke(main, ["--tracking-uri", env["uri"], "models", *args],
                                env={"MLTRACK_USER": user}, catch_exceptions=False)
    return result


def test_register_promote_list_history(env) -> None:
    first = run(env, "register", f"runs:/{env['runs'][0]}/model", "churn", "--tag", "ci=yes")
    assert first.exit_code == 0, first.output
    assert "Registered 'churn' version 1" in first.output
    second = run(env, "register", f"runs:/{env['runs'][1]}/model", "churn", "--json")
    assert json.loads(second.output)["version"] == 2
    assert run(env, "promote", "churn", "1").exit_code == 0
    promoted = run(env, "promote", "churn", "2", "--comment", "better")
    assert promoted.exit_code == 0 and "now in Production" in promoted.output
    versions = json.loads(run(env, "list", "churn", "--json").output)
    assert [(v["version"], v["stage"]) for v in versions] == [(2, "Production"), (1, "Archived")]
    models = run(env, "list")
    assert "churn" in models.output and "PRODUCTION" in models.output
    history = json.loads(run(env, "history", "churn", "--json").output)
    assert [(h["version"], h["action"], h["to"]) for h in history[-2:]] == [
        (2, "transition", "Production"), (1, "archive", "Archived")]
    assert history[-2]["comment"] == "better" and history[-2]["user"] == "alice"
    table = run(env, "history", "churn")
    assert table.output.splitlines()[0].split()[:4] == ["TIME", "VERSION", "KIND", "ACTION"]


def test_refusals_exit_1_with_the_reason(env) -> None:
    run(env, "register", f"runs:/{env['runs'][0]}/model", "churn")
    missing = run(env, "promote", "churn", "7")
    assert missing.exit_code == 1 and "no version 7" in missing.output
    bad_stage = run(env, "promote", "churn", "1", "--stage", "Live")
    assert bad_stage.exit_code == 1 and "Unknown stage" in bad_stage.output
    assert run(env, "policy", "churn", "--gate", "metrics.acc>=0.9").exit_code == 0
    gated = run(env, "promote", "churn", "1")
    assert gated.exit_code == 1
    assert "metrics.acc >= 0.9 fails: it is 0.8" in gated.output
    nothing = run(env, "rollback", "churn")
    assert nothing.exit_code == 1 and "nothing to roll back" in nothing.output
    bad_gate = run(env, "policy", "churn", "--gate", "acc high")
    assert bad_gate.exit_code == 2 and "metrics.<key>" in bad_gate.output
    assert run(env, "register", "runs:/nope/model", "churn").exit_code == 1
    by_prefix = run(env, "register", f"runs:/{env['runs'][1][:8]}/model", "churn", "--json")
    assert by_prefix.exit_code == 0, by_prefix.output
    assert json.loads(by_prefix.output)["source"] == f"runs:/{env['runs'][1]}/model"
    assert run(env, "promote", "churn").exit_code == 2  # usage: VERSION missing


def test_approval_flow_exit_codes(env) -> None:
    run(env, "register", f"runs:/{env['runs'][1]}/model", "churn")
    policy = run(env, "policy", "churn", "--require-approval", "Production", "--gate",
                 "metrics.acc >= 0.9", "--json")
    assert json.loads(policy.output)["policy"]["gates"] == {"metrics.acc": ">= 0.9"}
    pending = run(env, "promote", "churn", "1", "--json")
    assert pending.exit_code == 3
    request_id = json.loads(pending.output)["pending_request"]["request_id"]
    listed = json.loads(run(env, "requests", "churn", "--json").output)
    assert [q["request_id"] for q in listed] == [request_id]
    self_approval = run(env, "approve", str(request_id))
    assert self_approval.exit_code == 1 and "another user" in self_approval.output
    approved = run(env, "approve", str(request_id), "--comment", "ok", user="bob")
    assert approved.exit_code == 0 and "approved by bob" in approved.output
    assert r.get_model_version("churn", 1, client=env["client"]).current_stage == "Production"
    again = run(env, "approve", str(request_id), user="bob")
    assert again.exit_code == 1 and "approved already" in again.output
    run(env, "register", f"runs:/{env['runs'][1]}/model", "churn")
    second = json.loads(run(env, "promote", "churn", "2", "--json").output)
    rejected = run(env, "reject", str(second["pending_request"]["request_id"]), user="carol")
    assert rejected.exit_code == 0 and "rejected by carol" in rejected.output
    all_requests = json.loads(run(env, "requests", "--status", "all", "--json").output)
    assert [q["status"] for q in all_requests] == ["REJECTED", "APPROVED"]


def test_rollback_alias_and_register_best(env) -> None:
    best = run(env, "register-best", "cli", "acc", "--name", "churn", "--promote-to",
               "Production", "--json")
    assert best.exit_code == 0, best.output
    assert json.loads(best.output)["stage"] == "Production"
    run(env, "register", f"runs:/{env['runs'][0]}/model", "churn")
    assert run(env, "promote", "churn", "2").exit_code == 0
    rolled = run(env, "rollback", "churn", "--comment", "latency")
    assert rolled.exit_code == 0 and "version 1 is in Production again" in rolled.output
    assert run(env, "alias", "churn", "champion", "1").exit_code == 0
    assert r.resolve_models_uri("models:/churn@champion", client=env["client"]).endswith(
        f"{env['runs'][1]}/model")
    assert run(env, "alias", "churn", "champion", "--delete").exit_code == 0
    assert run(env, "alias", "churn", "champion").exit_code == 2
    run(env, "policy", "churn", "--require-approval", "@champion", "--allow-self-approval")
    assert run(env, "alias", "churn", "champion", "2").exit_code == 3
    shown = run(env, "policy", "churn")
    assert "@champion" in shown.output and "allow_self_approval:  True" in shown.output
    assert run(env, "policy", "churn", "--clear").exit_code == 0
    assert "no policy" in run(env, "policy", "churn").output


def test_the_installed_command_exits_3_then_0_for_a_pipeline(env, tmp_path: Path) -> None:
    """The real ``mltrack`` executable, as a CI job would call it."""
    from jupyter_mltrack.models import save_model

    save_model(tiny_model(), tmp_path / "m", progress=False)
    exe = [str(Path(sys.executable).with_name("mltrack"))]
    base = {**os.environ, "MLTRACK_TRACKING_URI": env["uri"], "MLTRACK_USER": "ci"}

    def call(*args: str, user: str = "ci") -> subprocess.CompletedProcess:
        return subprocess.run([*exe, "models", *args], capture_output=True, text=True,
                              env={**base, "MLTRACK_USER": user}, timeout=120)

    assert call("register", str(tmp_path / "m"), "svc").returncode == 0
    assert call("policy", "svc", "--require-approval", "Production").returncode == 0
    pending = call("promote", "svc", "1")
    assert pending.returncode == 3, pending.stderr
    assert "mltrack models approve 1" in pending.stdout
    assert call("approve", "1", user="lead").returncode == 0
    assert call("list", "svc", "--filter", "stage = 'Production'", "--json").returncode == 0
    refused = call("rollback", "svc")
    assert refused.returncode == 1 and refused.stderr.startswith("Error: ")


def test_register_best_says_when_the_best_is_registered_and_never_demotes(env) -> None:
    best_run = env["runs"][1]
    first = run(env, "register-best", "cli", "acc", "--name", "m", "--promote-to",
                "Production")
    assert first.exit_code == 0, first.output
    assert "Registered 'm' version 1" in first.output and "Production" in first.output
    again = run(env, "register-best", "cli", "acc", "--name", "m", "--promote-to", "Staging")
    assert again.exit_code == 0, again.output
    name = env["client"].get_run(best_run).info.run_name
    assert again.output.strip() == (
        f"The best run ({name}, {best_run[:8]}) is already registered as m version 1 "
        "(Production); nothing registered. It stays in Production: pass --force-stage to "
        "move it to Staging.")
    assert r.get_model_version("m", 1, client=env["client"]).current_stage == "Production"
    assert r.resolve_models_uri("models:/m/Production", client=env["client"]) == \
        f"runs:/{best_run}/model"
    plain = run(env, "register-best", "cli", "acc", "--name", "m", "--json")
    data = json.loads(plain.output)
    assert (data["version"], data["stage"], data["registered"]) == (1, "Production", False)
    forced = run(env, "register-best", "cli", "acc", "--name", "m", "--promote-to", "Staging",
                 "--force-stage")
    assert forced.exit_code == 0 and "now in Staging" in forced.output
    assert r.get_model_version("m", 1, client=env["client"]).current_stage == "Staging"
    assert [v.version for v in r.search_model_versions("name = 'm'",
                                                       client=env["client"])] == [1]
