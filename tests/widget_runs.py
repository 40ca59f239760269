"""Runs for the widget tests: a small experiment of real (tiny) training curves."""

from __future__ import annotations

import numpy as np

SOURCE = """lr = {lr}
optimizer = "{opt}"
model = train(lr=lr, optimizer=optimizer, epochs=30)
loss = model.loss
"""


def make_runs(client, experiment: str = "sweep", n: int = 6, steps: int = 60,
              running: int = 0, seed: int = 0) -> list[str]:
    """``n`` runs with params lr/optimizer/layers, metrics loss/acc histories and a cell
    source tag; the last ``running`` runs are left RUNNING. Returns run ids, oldest first."""
    rng = np.random.default_rng(seed)
    exp = client.get_or_create_experiment(experiment)
    ids = []
    for i in range(n):
        lr = [0.1, 0.01, 0.001][i % 3]
        opt = ["adam", "sgd"][i % 2]
        source = SOURCE.format(lr=lr, opt=opt)
        run = client.create_run(exp, run_name=f"run-{i}", start_time=1_700_000_000_000 + i * 1000,
                                tags={"team": "vision", "mltrack.notebook.cell_source": source})
        run_id = run.info.run_id
        client.log_params(run_id, {"lr": lr, "optimizer": opt, "layers": 3})
        t = np.arange(steps)
        loss = np.exp(-t * lr * 3) + 0.05 * rng.random(steps) + 0.01 * i
        client.log_metric_points(run_id, "loss", loss, steps=t.tolist())
        client.log_metric_points(run_id, "acc", 1 - loss / 2, steps=t.tolist())
        ids.append(run_id)
        if i < n - running:
            client.set_terminated(run_id)
    client.flush()
    return ids


def fill_many(client, experiment: str, n_runs: int, n_params: int = 30,
              n_metrics: int = 20) -> str:
    """Insert many finished runs straight into the SQLite file (as a bulk import would);
    returns the experiment id. Run ``i`` is named ``r{i}``, metric ``m{j}`` = ``i * j``."""
    import sqlite3

    from jupyter_mltrack.store.sql import param_number

    exp = client.get_or_create_experiment(experiment)
    db = client.tracking_uri[len("sqlite:///"):]
    base = 1_700_000_000_000
    runs, params, latest = [], [], []
    with sqlite3.connect(db) as con:
        first = (con.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0]) + 1
        for n in range(n_runs):
            pk = first + n
            rid = f"{pk:032x}"
            runs.append((pk, rid, int(exp), f"r{n}", "FINISHED", base + n, base + n + 5000,
                         "active", "tester", f"/tmp/artifacts/{rid}", base + n))
            for j in range(n_params):
                value = str(n % (j + 2))
                params.append((pk, f"p{j}", value, param_number(value)))
            for j in range(n_metrics):
                latest.append((pk, f"m{j}", float(n * j), 0, base, 0))
        con.executemany("INSERT INTO runs (id, run_uuid, experiment_id, name, status, start_time, "
                        "end_time, lifecycle_stage, user_id, artifact_uri, heartbeat) VALUES "
                        "(?,?,?,?,?,?,?,?,?,?,?)", runs)
        con.executemany("INSERT INTO params (run_id, key, value, num) VALUES (?,?,?,?)", params)
        con.executemany("INSERT INTO latest_metrics (run_id, key, value, step, timestamp, is_nan) "
                        "VALUES (?,?,?,?,?,?)", latest)
    return exp
