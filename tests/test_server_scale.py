"""Several workers share one database; a server killed mid-run loses nothing it
acknowledged; 16 clients logging for 30 s lose nothing (the load test, marked slow)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import threading
import time
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from jupyter_mltrack import Client
from jupyter_mltrack.server.app import TeamServerApp
from jupyter_mltrack.server.state import ServerConfig
from tests.team_server import TeamServer

P = "/api/2.0/mlflow"


class Logger(threading.Thread):
    """One client: a run, then batches of metric points until stopped or refused.

    ``wire`` is MLflow's ``log-batch`` (an object per point) or our ``write-metrics``
    (a column per field, the form the remote store sends). ``acked`` holds the steps of
    every batch the server answered 200 to; the value of a step is ``step / 8``.
    :meth:`prepare` creates the run and encodes the first bodies before the clock starts,
    so that a load test measures the server more than its clients.
    """

    def __init__(self, url: str, experiment_id: str, batch: int = 50,
                 wire: str = "log-batch"):
        super().__init__(daemon=True)
        self.url, self.experiment_id, self.batch, self.wire = url, experiment_id, batch, wire
        self.stop = threading.Event()
        self.acked: list[int] = []
        self.errors: list[str] = []
        self.run_id = ""
        self.ready: list[tuple[str, bytes]] = []

    def prepare(self, bodies: int) -> None:
        if not self.run_id:
            created = httpx.post(self.url + f"{P}/runs/create",
                                 json={"experiment_id": self.experiment_id}, timeout=60)
            self.run_id = created.json()["run"]["info"]["run_id"]
        self.ready = [self.body(i * self.batch) for i in range(bodies)]

    def body(self, step: int) -> tuple[str, bytes]:
        steps = range(step, step + self.batch)
        now = time.time_ns() // 1_000_000
        if self.wire == "log-batch":
            return f"{P}/runs/log-batch", json.dumps({"run_id": self.run_id, "metrics": [
                {"key": "loss", "value": s / 8, "step": s, "timestamp": now} for s in steps]
            }).encode()
        return "/api/2.0/mltrack/runs/write-metrics", json.dumps({
            "client_id": self.run_id, "batches": [{"run_id": self.run_id, "seq": step,
                                                   "series": [{
                "key": "loss", "steps": list(steps), "values": [s / 8 for s in steps],
                "timestamps": [now] * self.batch}]}]}).encode()

    def run(self) -> None:
        if not self.run_id:
            self.prepare(0)
        # the standard library's client: far less CPU per request than httpx, so that the
        # load test measures the server more than its clients
        http = HTTPConnection(urlsplit(self.url).netloc, timeout=60)
        headers = {"content-type": "application/json"}
        step = 0
        try:
            while not self.stop.is_set():
                index = step // self.batch
                path, body = self.ready[index] if index < len(self.ready) else self.body(step)
                try:
                    http.request("POST", path, body, headers)
                    answer = http.getresponse()
                    status, text = answer.status, answer.read()
                except (OSError, HTTPException) as exc:
                    self.errors.append(type(exc).__name__)
                    return
                if status != 200:
                    self.errors.append(f"{status} {text[:200]!r}")
                    return
                if self.wire != "log-batch" and json.loads(text) != {"applied": 1,
                                                                     "skipped": 0}:
                    self.errors.append(f"not applied once: {text[:200]!r}")
                    return
                self.acked.extend(range(step, step + self.batch))
                step += self.batch
        finally:
            http.close()


def _post(app: TeamServerApp, path: str, body: dict[str, Any]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport,
                                     base_url="http://127.0.0.1:5000") as client:
            return await client.post(P + path, json=body)
    return asyncio.run(go())


def test_a_log_batch_is_one_short_transaction_and_still_validates_every_point(
        store_uri: str, tmp_path: Path) -> None:
    from sqlalchemy import event

    app = TeamServerApp(ServerConfig(store_uri, str(tmp_path / "artifacts")))
    store = app.state.store
    run = store.create_run(store.create_experiment("batch"), "r", 1, "u").run_id
    statements: list[str] = []
    event.listen(store.db.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql))
    metrics = [{"key": "loss", "value": float(i), "step": i, "timestamp": 7}
               for i in range(1000)]
    assert _post(app, "/runs/log-batch", {"run_id": run, "metrics": metrics}).status_code == 200
    # a read of the run, one insert of the history chunk, one of the latest value
    # (besides BEGIN and the pool's liveness ping): not a full read of the run first
    work = [s for s in statements if s.split()[0].upper() not in ("BEGIN", "COMMIT")
            and s.strip().lower() != "select 1"]
    assert len(work) <= 3, "\n".join(w[:90] for w in work)
    # the usual shape takes a short path; every other shape is still checked or converted
    odd = [{"key": "acc", "value": 1, "step": 1.0, "timestamp": 5},
           {"key": "acc", "value": "NaN", "step": 2, "timestamp": 6},
           {"key": "acc", "value": 0.5}]
    assert _post(app, "/runs/log-batch", {"run_id": run, "metrics": odd}).status_code == 200
    acc = store.get_metric_history(run, "acc")
    assert acc["step"].tolist() == [0, 1, 2] and acc["value"].tolist()[:2] == [0.5, 1.0]
    assert math.isnan(acc["value"].tolist()[2])
    for bad, says in [({"key": "loss", "value": "high", "step": 1, "timestamp": 1}, "number"),
                      ({"key": "lo$s", "value": 1.0, "step": 1, "timestamp": 1}, "characters"),
                      ({"key": "loss", "value": 1.0, "step": 2 ** 63, "timestamp": 1}, "64"),
                      ({"key": "loss", "value": 1.0, "step": True, "timestamp": 1}, "integer"),
                      ("loss", "object")]:
        answer = _post(app, "/runs/log-batch", {"run_id": run, "metrics": [*metrics, bad]})
        assert answer.status_code == 400 and says in answer.json()["message"], answer.text
    assert len(store.get_metric_history(run, "loss")) == 1000  # refused batches store nothing
    store.set_run_lifecycle(run, deleted=True)
    answer = _post(app, "/runs/log-batch", {"run_id": run, "metrics": metrics})
    assert answer.status_code == 409 and "restore it" in answer.json()["message"]
    answer = _post(app, "/runs/log-batch", {"run_id": "nope", "metrics": metrics})
    assert answer.status_code == 404


def _group(pgid: int) -> list[int]:
    """The processes of a process group (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                found.append(int(entry))
    return found


def _experiment(url: str, name: str) -> str:
    return str(httpx.post(url + f"{P}/experiments/create", json={"name": name}
                          ).json()["experiment_id"])


def _stored_steps(client: Client, run_id: str) -> set[int]:
    frame = client.store.get_metric_history(run_id, "loss")
    return set(frame["step"].to_numpy().tolist())


def _stored_points(client: Client, run_id: str) -> list[tuple[int, float]]:
    frame = client.store.get_metric_history(run_id, "loss")
    return sorted(zip(frame["step"].tolist(), frame["value"].tolist(), strict=True))


@pytest.mark.slow
def test_workers_share_the_database_and_a_killed_server_loses_nothing_acknowledged(
        store_uri: str, tmp_path: Path) -> None:
    server = TeamServer(store_uri, str(tmp_path / "artifacts"), tmp_path, workers=2)
    server.start()
    try:
        assert server.proc is not None
        assert len(_group(server.proc.pid)) >= 3  # the supervisor and two workers
        exp = _experiment(server.url, "crash")
        # what one worker writes, the others read at once
        for i in range(10):
            run = httpx.post(server.url + f"{P}/runs/create",
                             json={"experiment_id": exp, "run_name": f"r{i}"}).json()
            got = httpx.get(server.url + f"{P}/runs/get",
                            params={"run_id": run["run"]["info"]["run_id"]})
            assert got.status_code == 200
        loggers = [Logger(server.url, exp) for _ in range(4)]
        for logger in loggers:
            logger.start()
        time.sleep(3)
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGKILL)  # no shutdown, no flush: gone
        server.proc.wait(timeout=30)
        for logger in loggers:
            logger.stop.set()
            logger.join(timeout=60)
    finally:
        server.stop()
    ours = Client(store_uri, str(tmp_path / "artifacts"))
    total = 0
    for logger in loggers:
        assert logger.acked, logger.errors
        stored = _stored_steps(ours, logger.run_id)
        missing = set(logger.acked) - stored
        assert not missing, f"{len(missing)} acknowledged points lost"
        total += len(logger.acked)
    assert total > 0
    # the server starts again on the same store and serves what was there
    again = TeamServer(store_uri, str(tmp_path / "artifacts"), tmp_path, workers=2)
    with again:
        run = httpx.get(again.url + f"{P}/runs/get",
                        params={"run_id": loggers[0].run_id}).json()["run"]
        assert run["info"]["status"] == "RUNNING"


@pytest.mark.postgres
def test_one_batch_sent_at_once_to_two_workers_is_applied_once(postgres_uri: str,
                                                                 tmp_path: Path) -> None:
    server = TeamServer(postgres_uri, str(tmp_path / "artifacts"), tmp_path, workers=2)
    senders = 8
    with server:
        exp = _experiment(server.url, "twice")
        run = httpx.post(server.url + f"{P}/runs/create", json={"experiment_id": exp}
                         ).json()["run"]["info"]["run_id"]
        answers: list[dict[str, Any]] = []
        for seq in range(1, 21):
            body = {"client_id": "c0ffee", "batches": [{
                "run_id": run, "seq": seq, "series": [{
                    "key": "loss", "steps": list(range(seq * 100, seq * 100 + 100)),
                    "values": [seq + i / 100 for i in range(100)],
                    "timestamps": [seq] * 100}]}]}
            start = threading.Barrier(senders)

            def send(body: dict[str, Any] = body, start: threading.Barrier = start) -> None:
                with httpx.Client(timeout=60) as http:
                    start.wait()
                    answer = http.post(server.url + "/api/2.0/mltrack/runs/write-metrics",
                                       json=body)
                    answers.append(answer.json())
            threads = [threading.Thread(target=send) for _ in range(senders)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
    assert len(answers) == 20 * senders
    assert sum(a.get("applied", 0) for a in answers) == 20, answers[:senders]
    assert sum(a.get("skipped", 0) for a in answers) == 20 * (senders - 1)
    history = Client(postgres_uri, str(tmp_path / "artifacts")).store.get_metric_history(
        run, "loss")
    assert history["step"].tolist() == list(range(100, 2100))  # each point once


def _load(server: TeamServer, clients: int, seconds: float, batch: int,
          wire: str = "log-batch") -> dict[str, Any]:
    exp = _experiment(server.url, f"load-{clients}")
    loggers = [Logger(server.url, exp, batch, wire) for _ in range(clients)]
    for logger in loggers:  # enough bodies for 150,000 points/s
        logger.prepare(int(150_000 * seconds / batch / clients) + 1)
    started = time.perf_counter()
    for logger in loggers:
        logger.start()
    time.sleep(seconds)
    for logger in loggers:
        logger.stop.set()
    for logger in loggers:
        logger.join(timeout=120)
    elapsed = time.perf_counter() - started
    points = sum(len(logger.acked) for logger in loggers)
    return {"loggers": loggers, "points": points, "seconds": elapsed,
            "rate": points / elapsed}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("wire", ["write-metrics", "log-batch"])
def test_sixteen_clients_for_thirty_seconds_lose_nothing(postgres_uri: str, tmp_path: Path,
                                                          wire: str) -> None:
    server = TeamServer(postgres_uri, str(tmp_path / "artifacts"), tmp_path, workers=2)
    with server:
        result = _load(server, clients=16, seconds=30, batch=1000, wire=wire)
    ours = Client(postgres_uri, str(tmp_path / "artifacts"))
    for logger in result["loggers"]:
        assert logger.errors == [], logger.errors[:3]
        # every acknowledged point stored exactly once, with its value
        assert _stored_points(ours, logger.run_id) == [(s, s / 8) for s in logger.acked]
    print(f"\n16 clients ({wire}), 30 s: {result['points']:,} points acknowledged and "
          f"stored once, {result['rate']:,.0f} points/s, load average "
          f"{os.getloadavg()[0]:.1f}")
    assert result["points"] > 0
