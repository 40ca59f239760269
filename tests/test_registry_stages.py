"""Every stage transition path, archive_existing, rollback, aliases and version_at,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest

from jupyter_mltrack import registry as r
from jupyter_mltrack.entities import Stage
from jupyter_mltrack.errors import InvalidParameter, InvalidState, NotFound
from tests.registry_helpers import as_user, experiment, rc, register_runs, stage_log

__all__ = ["as_user", "experiment", "rc"]

STAGES = ["None", "Staging", "Production", "Archived"]


@pytest.mark.parametrize("start,end", list(itertools.permutations(STAGES, 2)))
def test_every_transition_path(rc, experiment, as_user, start, end) -> None:
    register_runs(rc, experiment, "m", [0.5])
    if start != "None":
        r.transition_stage("m", 1, start, client=rc)
    as_user("bob")
    moved = r.transition_stage("m", 1, end, comment=f"{start} to {end}", client=rc)
    assert moved.current_stage == end
    assert r.get_model_version("m", 1, client=rc).current_stage == end
    last = r.history_records("m", client=rc)[-1]
    assert (last.kind, last.action, last.from_value, last.to_value) == (
        "stage", "transition", start, end)
    assert (last.user_id, last.comment, last.version) == ("bob", f"{start} to {end}", 1)


def test_same_stage_is_a_no_op_without_record(rc, experiment) -> None:
    register_runs(rc, experiment, "m", [0.5])
    r.transition_stage("m", 1, "Staging", client=rc)
    before = len(r.history_records("m", client=rc))
    assert r.transition_stage("m", 1, "staging", client=rc).current_stage == "Staging"
    assert len(r.history_records("m", client=rc)) == before


def test_stage_names_parse_and_bad_ones_are_refused(rc, experiment) -> None:
    register_runs(rc, experiment, "m", [0.5])
    assert Stage.parse(" PRODUCTION ") is Stage.PRODUCTION
    with pytest.raises(InvalidParameter, match="None, Staging, Production, Archived"):
        r.transition_stage("m", 1, "Live", client=rc)
    with pytest.raises(InvalidParameter, match="version number"):
        r.transition_stage("m", 0, "Staging", client=rc)


def test_archive_existing_leaves_one_holder(rc, experiment) -> None:
    register_runs(rc, experiment, "m", [0.5, 0.6, 0.7])
    r.transition_stage("m", 1, "Production", client=rc)
    r.transition_stage("m", 2, "Production", client=rc)  # two holders are allowed
    assert {v.version for v in r.search_model_versions("stage = 'Production'", client=rc)} == {
        1, 2}
    r.transition_stage("m", 3, "Production", archive_existing=True, client=rc)
    stages = {v.version: v.current_stage for v in r.search_model_versions(client=rc)}
    assert stages == {1: "Archived", 2: "Archived", 3: "Production"}
    assert stage_log(rc, "m")[-3:] == [
        (3, "transition", "None", "Production"),
        (1, "archive", "Production", "Archived"),
        (2, "archive", "Production", "Archived"),
    ]
    assert r.promote("m", 1, client=rc).current_stage == "Production"
    assert r.get_model_version("m", 3, client=rc).current_stage == "Archived"


def test_rollback_walks_back_through_the_holders(rc, experiment, as_user) -> None:
    register_runs(rc, experiment, "m", [0.5, 0.6, 0.7])
    for v in (1, 2, 3):
        r.promote("m", v, client=rc)
    as_user("oncall")
    restored = r.rollback("m", comment="v3 broke scoring", client=rc)
    assert restored.version == 2 and restored.current_stage == "Production"
    assert r.get_model_version("m", 3, client=rc).current_stage == "Archived"
    last_two = r.history_records("m", client=rc)[-2:]
    assert [(x.version, x.action, x.from_value, x.to_value, x.user_id, x.comment)
            for x in last_two] == [
        (3, "rollback", "Production", "Archived", "oncall", "v3 broke scoring"),
        (2, "rollback", "Archived", "Production", "oncall", "v3 broke scoring"),
    ]
    assert r.rollback("m", client=rc).version == 1
    assert r.resolve_models_uri("models:/m/Production", client=rc) == \
        r.get_model_version("m", 1, client=rc).source
    with pytest.raises(InvalidState, match="no earlier version"):
        r.rollback("m", client=rc)
    # a new promotion after rollbacks: rolling back returns to version 1 again
    r.promote("m", 3, client=rc)
    assert r.rollback("m", client=rc).version == 1


def test_rollback_skips_deleted_versions_and_works_after_manual_archive(rc, experiment) -> None:
    register_runs(rc, experiment, "m", [0.5, 0.6, 0.7])
    for v in (1, 2, 3):
        r.promote("m", v, client=rc)
    r.delete_model_version("m", 2, client=rc)
    r.transition_stage("m", 3, "Archived", comment="pulled", client=rc)
    restored = r.rollback("m", client=rc)
    assert restored.version == 1
    assert {v.version: v.current_stage for v in r.search_model_versions(client=rc)} == {
        1: "Production", 3: "Archived"}


def test_rollback_of_staging_and_of_a_stage_never_held(rc, experiment) -> None:
    register_runs(rc, experiment, "m", [0.5, 0.6])
    with pytest.raises(InvalidState, match="nothing to roll back"):
        r.rollback("m", client=rc)
    r.promote("m", 1, "Staging", client=rc)
    r.promote("m", 2, "Staging", client=rc)
    assert r.rollback("m", "Staging", client=rc).version == 1
    assert r.get_model_version("m", 2, client=rc).current_stage == "Archived"


def test_rollback_with_two_holders_keeps_the_older_one(rc, experiment) -> None:
    register_runs(rc, experiment, "m", [0.5, 0.6])
    r.transition_stage("m", 1, "Production", client=rc)
    r.transition_stage("m", 2, "Production", client=rc)
    assert r.rollback("m", client=rc).version == 1
    assert r.get_model_version("m", 2, client=rc).current_stage == "Archived"


def test_aliases_set_move_delete_and_are_audited(rc, experiment, as_user) -> None:
    register_runs(rc, experiment, "m", [0.5, 0.6])
    assert r.set_alias("m", "champion", 1, client=rc).aliases == ("champion",)
    as_user("bob")
    r.set_alias("m", "champion", 2, comment="better", client=rc)
    assert r.get_model_version("m", 1, client=rc).aliases == ()
    assert r.get_model_version_by_alias("m", "champion", client=rc).version == 2
    assert r.get_registered_model("m", client=rc).aliases == {"champion": 2}
    r.delete_alias("m", "champion", client=rc)
    with pytest.raises(NotFound, match="no alias 'champion'"):
        r.delete_alias("m", "champion", client=rc)
    records = [(x.alias, x.action, x.from_value, x.to_value, x.user_id, x.comment)
               for x in r.history_records("m", client=rc) if x.kind == "alias"]
    assert records == [("champion", "set", None, "1", "alice", None),
                       ("champion", "set", "1", "2", "bob", "better"),
                       ("champion", "delete", "2", None, "bob", None)]


@pytest.mark.parametrize("bad", ["Production", "latest", "3", "two words", "a/b", ""])
def test_bad_aliases_are_refused(rc, experiment, bad) -> None:
    register_runs(rc, experiment, "m", [0.5])
    with pytest.raises(InvalidParameter, match="alias"):
        r.set_alias("m", bad, 1, client=rc)


def test_version_at_answers_what_held_a_stage_when(rc, experiment) -> None:
    register_runs(rc, experiment, "m", [0.5, 0.6])
    before = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.02)
    r.promote("m", 1, client=rc)
    time.sleep(0.02)
    middle = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.02)
    r.promote("m", 2, client=rc)
    time.sleep(0.02)
    after = dt.datetime.now(dt.timezone.utc)
    assert r.version_at("m", "Production", before, client=rc) is None
    assert r.version_at("m", "Production", middle, client=rc) == 1
    assert r.version_at("m", "Production", middle.isoformat(), client=rc) == 1
    assert r.version_at("m", "Production", after, client=rc) == 2
    assert r.version_at("m", "Archived", after, client=rc) == 1
    assert r.versions_at("m", "None", middle, client=rc) == [2]
    r.rollback("m", client=rc)
    assert r.version_at("m", "Production", dt.datetime.now(dt.timezone.utc), client=rc) == 1
    with pytest.raises(InvalidParameter, match="ISO format"):
        r.version_at("m", "Production", "last tuesday", client=rc)
