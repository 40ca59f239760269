"""Registering versions, reading and searching them, tags, soft delete, register_best,
models:/ URIs, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mltrack import registry as r
from jupyter_mltrack.errors import (
    AlreadyExists,
    InvalidFilter,
    InvalidModel,
    InvalidParameter,
    InvalidState,
    InvalidURI,
    ModelVersionNotFound,
    NotFound,
    RegisteredModelNotFound,
    RunNotFound,
)
from tests.registry_helpers import as_user, experiment, log_run, rc, register_runs, tiny_model

__all__ = ["as_user", "experiment", "rc"]


def test_versions_are_numbered_and_linked_to_their_run(rc, experiment, as_user) -> None:
    run_ids = [log_run(rc, experiment, {"acc": a}) for a in (0.7, 0.8, 0.9)]
    versions = [r.register_model(f"runs:/{rid}/model", "churn", tags={"team": "risk"},
                                 description=f"from {rid[:6]}", client=rc) for rid in run_ids]
    assert [v.version for v in versions] == [1, 2, 3]
    for v, rid in zip(versions, run_ids, strict=True):
        assert v.run_id == rid
        assert v.source == f"runs:/{rid}/model"
        assert v.current_stage == "None"
        assert v.user_id == "alice"
        assert v.tags == {"team": "risk"}
        assert v.description == f"from {rid[:6]}"
        assert v.uri == f"models:/churn/{v.version}"
    model = r.get_registered_model("churn", client=rc)
    assert model.name == "churn"
    assert [v.version for v in model.latest_versions] == [3]  # newest in stage None
    assert r.get_model_version("churn", "2", client=rc).run_id == run_ids[1]


def test_register_from_folder_and_from_models_uri(rc, experiment, tmp_path: Path) -> None:
    from jupyter_mltrack.models import save_model

    folder = tmp_path / "saved"
    save_model(tiny_model(), folder, progress=False)
    v = r.register_model(str(folder), "local-model", client=rc)
    assert v.run_id is None
    # the version holds a copy in the store; the tag names where it came from
    assert Path(v.source).parent == (tmp_path / "artifacts" / "registered-models").resolve()
    assert v.tags == {"mltrack.model.origin": str(folder.resolve())}
    assert sorted(p.name for p in Path(v.source).iterdir()) == \
        sorted(p.name for p in folder.iterdir())
    run_id = log_run(rc, experiment, {"acc": 0.9})
    r.register_model(f"runs:/{run_id}/model", "a", client=rc)
    copy = r.register_model("models:/a/1", "b", client=rc)
    assert (copy.name, copy.version, copy.run_id) == ("b", 1, run_id)
    assert copy.source == f"runs:/{run_id}/model"


def test_register_refuses_what_is_not_a_model(rc, experiment, tmp_path: Path) -> None:
    run_id = log_run(rc, experiment, {"acc": 0.5}, model=False)
    rc.log_text(run_id, "not a model", "notes/readme.txt")
    with pytest.raises(InvalidModel, match="no model"):
        r.register_model(f"runs:/{run_id}/notes", "m", client=rc)
    with pytest.raises(InvalidParameter, match="no model folder"):
        r.register_model(f"runs:/{run_id}", "m", client=rc)
    with pytest.raises(RunNotFound):
        r.register_model("runs:/" + "0" * 32 + "/model", "m", client=rc)
    with pytest.raises(InvalidParameter, match="no such folder"):
        r.register_model(str(tmp_path / "missing"), "m", client=rc)
    with pytest.raises(InvalidURI):
        r.register_model("runs:/not-a-run/model", "m", client=rc)
    # nothing was registered by any of these
    with pytest.raises(RegisteredModelNotFound):
        r.get_registered_model("m", client=rc)


@pytest.mark.parametrize("bad", ["", " churn", "a/b", "a@b", "50%", "x:y", 7])
def test_bad_model_names_are_refused_with_a_fix(rc, experiment, bad) -> None:
    run_id = log_run(rc, experiment, {"acc": 0.5})
    with pytest.raises(InvalidParameter, match="name"):
        r.register_model(f"runs:/{run_id}/model", bad, client=rc)


def test_not_found_errors_say_what_is_missing(rc, experiment) -> None:
    register_runs(rc, experiment, "churn", [0.5])
    with pytest.raises(RegisteredModelNotFound, match="register_model"):
        r.get_model_version("nope", 1, client=rc)
    with pytest.raises(ModelVersionNotFound, match="no version 9"):
        r.get_model_version("churn", 9, client=rc)
    with pytest.raises(InvalidParameter, match="version number"):
        r.get_model_version("churn", "latest", client=rc)
    with pytest.raises(AlreadyExists):
        r.create_registered_model("churn", client=rc)


def test_search_versions_by_attributes_tags_aliases_and_run_metrics(rc, experiment) -> None:
    runs = register_runs(rc, experiment, "churn", [0.7, 0.85, 0.95])
    register_runs(rc, experiment, "fraud", [0.99])
    r.set_model_version_tag("churn", 2, "validated", "yes", client=rc)
    r.transition_stage("churn", 3, "Production", client=rc)
    r.set_alias("churn", "champion", 3, client=rc)

    def found(text: str, **kw) -> list[tuple[str, int]]:
        return [(v.name, v.version) for v in r.search_model_versions(text, client=rc, **kw)]

    assert found("name = 'churn'") == [("churn", 3), ("churn", 2), ("churn", 1)]
    assert found(f"run_id = '{runs[0]}'") == [("churn", 1)]
    assert found("tags.validated = 'yes'") == [("churn", 2)]
    assert found("stage = 'production'") == [("churn", 3)]
    assert found("alias = 'champion'") == [("churn", 3)]
    assert found("metrics.acc > 0.8") == [("churn", 3), ("churn", 2), ("fraud", 1)]
    assert found("metrics.acc > 0.8 and name LIKE 'ch%'", order_by="version ASC") == [
        ("churn", 2), ("churn", 3)]
    assert found("version >= 2 or tags.validated IS NOT NULL") == [("churn", 3), ("churn", 2)]
    first = r.search_model_versions(max_results=2, client=rc)
    assert len(first) == 2 and first.next_page_token
    rest = r.search_model_versions(max_results=2, page_token=first.next_page_token, client=rc)
    assert len(rest) == 2 and rest.next_page_token is None
    with pytest.raises(InvalidFilter, match="cannot be searched by 'colour'"):
        r.search_model_versions("colour = 'red'", client=rc)
    with pytest.raises(InvalidFilter, match="quote the value"):
        r.search_model_versions("name = 3", client=rc)
    with pytest.raises(InvalidFilter, match="Unknown stage"):
        r.search_model_versions("stage = 'Live'", client=rc)


def test_search_registered_models_and_their_tags(rc, experiment) -> None:
    register_runs(rc, experiment, "churn", [0.7])
    register_runs(rc, experiment, "fraud", [0.7])
    r.set_registered_model_tag("fraud", "team", "risk", client=rc)
    r.update_registered_model("fraud", "Catches fraud.", client=rc)
    assert [m.name for m in r.search_registered_models(client=rc)] == ["churn", "fraud"]
    assert [m.name for m in r.search_registered_models("tags.team = 'risk'", client=rc)] == [
        "fraud"]
    assert [m.name for m in r.search_registered_models("name LIKE 'ch%'", client=rc)] == [
        "churn"]
    assert r.get_registered_model("fraud", client=rc).description == "Catches fraud."
    r.delete_registered_model_tag("fraud", "team", client=rc)
    assert r.get_registered_model("fraud", client=rc).tags == {}
    with pytest.raises(NotFound, match="no tag 'team'"):
        r.delete_registered_model_tag("fraud", "team", client=rc)
    with pytest.raises(InvalidFilter, match="search versions by metrics"):
        r.search_registered_models("metrics.acc > 1", client=rc)


def test_version_tags_and_description(rc, experiment) -> None:
    register_runs(rc, experiment, "churn", [0.7])
    r.set_model_version_tag("churn", 1, "owner", "ana", client=rc)
    assert r.update_model_version("churn", 1, "first try", client=rc).description == "first try"
    assert r.get_model_version("churn", 1, client=rc).tags == {"owner": "ana"}
    from jupyter_mltrack.registry import delete_model_version_tag

    delete_model_version_tag("churn", 1, "owner", client=rc)
    assert r.get_model_version("churn", 1, client=rc).tags == {}
    with pytest.raises(InvalidParameter, match="Tag key"):
        r.set_model_version_tag("churn", 1, "../x", "y", client=rc)


def test_soft_delete_and_restore(rc, experiment, as_user) -> None:
    register_runs(rc, experiment, "churn", [0.7, 0.8, 0.9])
    r.transition_stage("churn", 3, "Production", client=rc)
    with pytest.raises(InvalidState, match="Archived first"):
        r.delete_model_version("churn", 3, client=rc)
    r.set_alias("churn", "challenger", 2, client=rc)
    request = r.request_transition("churn", 2, "Staging", client=rc)
    gone = r.delete_model_version("churn", 2, comment="bad data", client=rc)
    assert gone.deleted and gone.aliases == ()
    assert r.get_transition_request(request.request_id, client=rc).status == "CANCELLED"
    assert "challenger" not in r.get_registered_model("churn", client=rc).aliases
    assert [v.version for v in r.search_model_versions("name = 'churn'", client=rc)] == [3, 1]
    assert [v.version for v in r.search_model_versions("name = 'churn'", include_deleted=True,
                                                       client=rc)] == [3, 2, 1]
    with pytest.raises(ModelVersionNotFound, match="deleted"):
        r.resolve_models_uri("models:/churn/2", client=rc)
    with pytest.raises(InvalidState, match="restore"):
        r.transition_stage("churn", 2, "Staging", client=rc)
    # numbers are never reused
    assert r.register_model(gone.source, "churn", client=rc).version == 4
    restored = r.restore_model_version("churn", 2, client=rc)
    assert not restored.deleted and restored.current_stage == "None"
    actions = [(h.kind, h.action) for h in r.history_records("churn", client=rc)
               if h.version == 2]
    assert ("alias", "delete") in actions and ("request", "cancelled") in actions
    assert ("lifecycle", "delete") in actions and ("lifecycle", "restore") in actions


def test_models_uris_resolve_to_the_source(rc, experiment) -> None:
    runs = register_runs(rc, experiment, "churn", [0.7, 0.8, 0.9])
    r.transition_stage("churn", 1, "Staging", client=rc)
    r.transition_stage("churn", 2, "Production", client=rc)
    r.set_alias("churn", "champion", 3, client=rc)
    resolve = r.resolve_models_uri
    assert resolve("models:/churn/1", client=rc) == f"runs:/{runs[0]}/model"
    assert resolve("models:/churn/Staging", client=rc) == f"runs:/{runs[0]}/model"
    assert resolve("models:/churn/production", client=rc) == f"runs:/{runs[1]}/model"
    assert resolve("models:/churn@champion", client=rc) == f"runs:/{runs[2]}/model"
    assert resolve("models:/churn/latest", client=rc) == f"runs:/{runs[2]}/model"
    with pytest.raises(ModelVersionNotFound, match="no version of 'churn' is in Archived"):
        resolve("models:/churn/Archived", client=rc)
    with pytest.raises(NotFound, match="no alias 'gold'"):
        resolve("models:/churn@gold", client=rc)
    with pytest.raises(InvalidURI):
        resolve("models:/churn", client=rc)


def test_load_model_takes_every_models_uri(rc, experiment) -> None:
    import numpy as np

    from jupyter_mltrack.models import load_model

    register_runs(rc, experiment, "churn", [0.7, 0.8])
    r.transition_stage("churn", 2, "Production", client=rc)
    r.set_alias("churn", "champion", 1, client=rc)
    for uri in ("models:/churn/1", "models:/churn/Production", "models:/churn@champion"):
        model = load_model(uri, client=rc)
        assert list(model.predict(np.zeros((3, 2)))) == [1, 1, 1]


def test_register_best_picks_registers_once_and_promotes(rc, experiment, as_user) -> None:
    runs = [log_run(rc, experiment, {"acc": a, "loss": 1 - a}) for a in (0.6, 0.9, 0.8)]
    log_run(rc, experiment, {"acc": 0.99}, finish=False)  # still running: not eligible
    best = r.register_best("registry-tests", "acc", name="churn", client=rc)
    assert (best.version, best.run_id) == (1, runs[1])
    assert best.tags["mltrack.selected_by"] == "max acc"
    again = r.register_best("registry-tests", "acc", name="churn", promote_to="Production",
                            client=rc)
    assert again.version == 1 and again.current_stage == "Production"
    low = r.register_best(experiment, "loss", mode="min", filter="metrics.acc < 0.85",
                          name="churn", promote_to="Production", client=rc)
    assert (low.version, low.run_id, low.current_stage) == (2, runs[2], "Production")
    assert r.get_model_version("churn", 1, client=rc).current_stage == "Archived"
    default_name = r.register_best("registry-tests", "acc", client=rc)
    assert default_name.name == "registry-tests"
    with pytest.raises(NotFound, match="nothing to register"):
        r.register_best(experiment, "f1", name="churn", client=rc)
    with pytest.raises(InvalidParameter, match="'max' or 'min'"):
        r.register_best(experiment, "acc", mode="best", client=rc)
    no_model = log_run(rc, experiment, {"acc": 1.0}, model=False)
    with pytest.raises(InvalidModel):
        r.register_best(experiment, "acc", name="churn", client=rc)
    assert r.get_model_version("churn", 2, client=rc).run_id != no_model


def test_the_sql_registry_store_implements_the_protocol(rc) -> None:
    from jupyter_mltrack.store import registry_store
    from jupyter_mltrack.store.protocols import RegistryStore

    store = registry_store(rc.store)
    assert isinstance(store, RegistryStore)
    assert registry_store(rc.store) is store  # one per tracking store


def test_register_best_never_moves_the_best_version_down_unless_forced(rc, experiment,
                                                                       as_user) -> None:
    from jupyter_mltrack.registry.versions import best_registration
    from tests.registry_helpers import stage_log

    run_ids = [log_run(rc, experiment, {"acc": a}) for a in (0.7, 0.9)]
    first = r.register_best(experiment, "acc", name="m", promote_to="Production", client=rc)
    assert (first.version, first.current_stage) == (1, "Production")
    before = stage_log(rc, "m")
    kept = r.register_best(experiment, "acc", name="m", promote_to="Staging", client=rc)
    assert (kept.version, kept.run_id, kept.current_stage) == (1, run_ids[1], "Production")
    assert stage_log(rc, "m") == before
    assert r.resolve_models_uri("models:/m/Production", client=rc) == \
        f"runs:/{run_ids[1]}/model"
    outcome = best_registration(experiment, "acc", name="m", promote_to="None", client=rc)
    assert not outcome.registered and outcome.kept_stage == "Production"
    assert outcome.version.current_stage == "Production"
    forced = r.register_best(experiment, "acc", name="m", promote_to="Staging",
                             force_stage=True, client=rc)
    assert (forced.version, forced.current_stage) == (1, "Staging")
    up = best_registration(experiment, "acc", name="m", promote_to="Production", client=rc)
    assert not up.registered and up.kept_stage is None
    assert (up.stage_before, up.version.current_stage) == ("Staging", "Production")
    assert [v.version for v in r.search_model_versions("name = 'm'", client=rc)] == [1]


def test_register_best_breaks_ties_by_the_earliest_run(rc, experiment, as_user) -> None:
    """A rerun that reproduces the best score does not register an identical version."""
    first = log_run(rc, experiment, {"acc": 0.9})
    assert r.register_best(experiment, "acc", name="m", client=rc).run_id == first
    for _ in range(3):
        log_run(rc, experiment, {"acc": 0.9})
        again = r.register_best(experiment, "acc", name="m", client=rc)
        assert (again.version, again.run_id) == (1, first)
