"""Helpers for the registry tests: a client per store, runs with real logged models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jupyter_mltrack import Client
from jupyter_mltrack.entities import Metric


@pytest.fixture
def rc(store_uri: str, tmp_path: Path) -> Client:
    """A client on SQLite or PostgreSQL (see conftest's ``store_uri``)."""
    return Client(store_uri, artifact_root=str(tmp_path / "artifacts"))


@pytest.fixture
def experiment(rc: Client) -> str:
    return rc.create_experiment("registry-tests")


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``as_user("bob")`` makes the following registry calls bob's."""
    def switch(name: str) -> None:
        monkeypatch.setenv("MLTRACK_USER", name)

    switch("alice")
    return switch


def tiny_model() -> Any:
    import numpy as np
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="most_frequent").fit(np.zeros((4, 2)), [0, 1, 1, 1])


def log_run(client: Client, experiment_id: str, metrics: dict[str, float] | None = None,
            model: bool = True, path: str = "model", finish: bool = True) -> str:
    """A run with ``metrics`` and (by default) a real sklearn model logged at ``path``."""
    from jupyter_mltrack.models import log_model

    run = client.create_run(experiment_id)
    if metrics:
        client.log_batch(run.run_id, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()])
    if model:
        log_model(tiny_model(), path, run_id=run.run_id, client=client, progress=False)
    if finish:
        client.set_terminated(run.run_id)
    return run.run_id


def register_runs(client: Client, experiment_id: str, name: str, accs: list[float]) -> list[str]:
    """One run per accuracy, each registered as the next version of ``name``."""
    from jupyter_mltrack.registry import register_model

    run_ids = []
    for acc in accs:
        run_id = log_run(client, experiment_id, {"acc": acc})
        register_model(f"runs:/{run_id}/model", name, client=client)
        run_ids.append(run_id)
    return run_ids


def stage_log(client: Client, name: str) -> list[tuple[int, str, str | None, str | None]]:
    """(version, action, from, to) of every stage record, oldest first."""
    from jupyter_mltrack.registry import history_records

    return [(r.version, r.action, r.from_value, r.to_value)
            for r in history_records(name, client=client) if r.kind == "stage"]
