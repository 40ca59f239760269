"""``history()``: the audit frame keeps missing values apart from the stage "None"."""

from __future__ import annotations

import pandas as pd

from jupyter_mltrack import registry as r
from tests.registry_helpers import log_run


def test_history_marks_missing_values_one_way_and_keeps_the_stage_none(client) -> None:
    experiment = client.create_experiment("history")
    run_id = log_run(client, experiment, {"acc": 0.9})
    r.register_model(f"runs:/{run_id}/model", "m", client=client)
    r.transition_stage("m", 1, "Staging", client=client)
    r.set_alias("m", "champion", 1, client=client)
    frame = r.history("m", client=client)
    assert list(zip(frame["kind"], frame["action"], strict=True)) == [
        ("stage", "register"), ("stage", "transition"), ("alias", "set")]
    for column in ("alias", "from", "to", "comment"):
        values = frame[column].tolist()
        # Missing is pd.NA everywhere: never NaN, never None, never the text "None".
        assert all(v is pd.NA or isinstance(v, str) for v in values), (column, values)
    register, transition, alias = (frame.iloc[i] for i in range(3))
    assert register["from"] is pd.NA and register["to"] == "None"
    assert transition["from"] == "None" and transition["to"] == "Staging"
    assert alias["from"] is pd.NA and alias["to"] == "1" and alias["alias"] == "champion"
    # The stage "None" is found by comparison; a missing value is found by isna().
    assert frame["from"].isna().tolist() == [True, False, True]
    assert (frame["from"] == "None").fillna(False).tolist() == [False, True, False]
