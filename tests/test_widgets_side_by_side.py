"""Side by side: every metric of the runs is a visible row, missing values are blank."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from jupyter_mltrack.widgets import style
from jupyter_mltrack.widgets.side_by_side import side_by_side_html


def _frame() -> pd.DataFrame:
    # A %%track run and a logged run: they share val_accuracy, the rest is one-sided.
    return pd.DataFrame({
        "run_id": ["a" * 32, "b" * 32], "run_name": ["mlp-relu", "softmax-long"],
        "status": ["FINISHED", "FINISHED"],
        "params.hidden": ["64", None], "params.lr": [None, "0.01"],
        "metrics.val_accuracy": [0.9644, 0.96], "metrics.train_loss": [0.0896, np.nan],
        "metrics.batch_loss": [np.nan, 0.00217],
    })


def _rows(html: str) -> dict[str, list[str]]:
    out = {}
    for field, cells in re.findall(r"<tr[^>]*><th>([^<]+)</th>(.*?)</tr>", html):
        out[field] = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                    cells)]
    return out


def test_metrics_rows_with_blank_cells_for_metrics_a_run_did_not_log() -> None:
    html = side_by_side_html(_frame(), ["mlp-relu", "softmax-long"], [style.color_for(0),
                                                                      style.color_for(1)])
    rows = _rows(html)
    assert rows["val_accuracy"] == ["0.9644", "0.96"]
    assert rows["train_loss"] == ["0.0896", ""]
    assert rows["batch_loss"] == ["", "0.00217"]
    assert rows["hidden"] == ["64", ""]
    assert "NaN" not in html
    # No height cap on the table: rows below Params are never hidden in an inner scroll.
    assert "max-height" not in html.split("mlt-side")[0]
