"""The scoring server on real ports: the CLI, --workers, serve(), and following the registry
(a promotion under load must not fail a single request)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jupyter_mltrack import Client
from jupyter_mltrack.errors import InvalidParameter
from tests.serving_helpers import (
    fit_model,
    free_port,
    get_json,
    post,
    save_sklearn,
    start_cli,
    stop,
    training_frame,
    wait_ready,
)

ONE_ROW = json.dumps({"dataframe_split": {"columns": ["a", "b", "c", "n"],
                                          "data": [[0.5, -1.0, 2.0, 3]]}}).encode()


def test_cli_serves_a_model_folder_on_a_real_port(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    model = save_sklearn(folder)
    port = free_port()
    proc = start_cli(["models", "serve", "-m", str(folder), "--port", str(port),
                      "--max-body-size", "2000"])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        status, _, body = post(url, b'{"inputs": [' + b"0.0, " * 1000 + b"0.0]}")
        assert status == 413 and "2,000 bytes" in body["message"]
        frame, _ = training_frame(seed=5, rows=4)
        status, headers, body = post(url, frame.to_csv(index=False).encode(), "text/csv")
        assert status == 200
        assert body == {"predictions": model.predict(frame).tolist()}
        assert headers["x-model-version"] == ""
        assert get_json(url, "/health")["status"] == "ok"
        status, _, body = post(url, b"{", "application/json")
        assert status == 400 and body["error_code"] == "BAD_REQUEST"
    finally:
        _, err = stop(proc)
    assert f"on http://127.0.0.1:{port}" in err
    access = [json.loads(line) for line in err.splitlines() if line.startswith('{"time"')]
    assert [(r["path"], r["status"]) for r in access if r["path"] == "/invocations"] == [
        ("/invocations", 413), ("/invocations", 200), ("/invocations", 400)]


def test_cli_binds_loopback_by_default(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    save_sklearn(folder)
    port = free_port()
    proc = start_cli(["models", "serve", "-m", str(folder), "--port", str(port)])
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
        local = [line.split()[1] for line in listening if line.split()[3] == "0A"]
        assert f"0100007F:{port:04X}" in local  # 127.0.0.1, not 0.0.0.0
        assert f"00000000:{port:04X}" not in local
    finally:
        stop(proc)


def test_cli_with_two_workers(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    model = save_sklearn(folder)
    port = free_port()
    proc = start_cli(["models", "serve", "-m", str(folder), "--port", str(port),
                      "--workers", "2"])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, timeout=240)
        frame, _ = training_frame(seed=1, rows=3)
        body = json.dumps({"dataframe_records": frame.to_dict(orient="records")}).encode()
        for _ in range(10):
            status, _, answer = post(url, body)
            assert status == 200 and answer["predictions"] == model.predict(frame).tolist()
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        workers = [c for c in children
                   if "multiprocessing" in Path(f"/proc/{c}/cmdline").read_text()]
        assert len(workers) >= 2
        assert get_json(url, "/health")["pid"] != proc.pid
    finally:
        stop(proc)


def test_bad_model_uri_fails_at_start_with_a_clear_message(tmp_path: Path) -> None:
    proc = start_cli(["models", "serve", "-m", str(tmp_path / "nothing"), "--port",
                      str(free_port())])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "is not a folder" in err and "Traceback" not in err


# -- following the registry ---------------------------------------------------------------


def _log(client: Client, experiment: str, C: float) -> str:
    from jupyter_mltrack.models import log_model

    run = client.create_run(experiment)
    frame, _ = training_frame()
    log_model(fit_model(C), run_id=run.run_id, client=client, input_example=frame[:3],
              progress=False)
    client.set_terminated(run.run_id)
    return f"runs:/{run.run_id}/model"


@pytest.fixture
def registry(tmp_path: Path) -> dict[str, Any]:
    from jupyter_mltrack import registry as r

    uri = f"sqlite:///{tmp_path / '.mltrack' / 'mltrack.db'}"
    client = Client(uri)
    experiment = client.create_experiment("serving")
    v1 = r.register_model(_log(client, experiment, 1.0), "churn", client=client)
    r.set_alias("churn", "champion", v1.version, client=client)
    r.transition_stage("churn", v1.version, "Production", client=client)
    return {"uri": uri, "client": client, "experiment": experiment}


def _client_loop(url: str, stop_at: threading.Event, results: list[tuple[int, str]],
                 limit: int = 5000) -> None:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for _ in range(limit):
            if stop_at.is_set():
                return
            try:
                conn.request("POST", "/invocations", ONE_ROW,
                             {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                results.append((response.status, response.getheader("x-model-version", "")))
            except (OSError, http.client.HTTPException) as exc:
                results.append((-1, repr(exc)))
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
    finally:
        conn.close()


def test_promotion_under_load_swaps_versions_with_zero_failed_requests(registry) -> None:
    from jupyter_mltrack import registry as r

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_cli(["--tracking-uri", registry["uri"], "models", "serve", "-m",
                      "models:/churn@champion", "--port", str(port), "--poll-interval", "0.2",
                      "--no-access-log"])
    stop_at = threading.Event()
    results: list[list[tuple[int, str]]] = [[] for _ in range(6)]
    threads = [threading.Thread(target=_client_loop, args=(url, stop_at, out)) for out in results]
    try:
        wait_ready(url, proc)
        assert get_json(url, "/metadata")["version"] == 1
        for thread in threads:
            thread.start()
        _wait(lambda: all(len(out) >= 5 for out in results), 60)
        v2 = r.register_model(_log(registry["client"], registry["experiment"], 0.01), "churn",
                              client=registry["client"])
        r.set_alias("churn", "champion", v2.version, client=registry["client"])
        _wait(lambda: get_json(url, "/metadata")["version"] == 2, 60)
        counts = [len(out) for out in results]
        _wait(lambda: all(len(out) >= c + 5 for out, c in zip(results, counts, strict=True)), 60)
    finally:
        stop_at.set()
        for thread in threads:
            thread.join(timeout=60)
        _, err = stop(proc)
    answers = [a for out in results for a in out]
    failed = [a for a in answers if a[0] != 200]
    assert failed == [], failed[:5]
    for out in results:
        versions = [v for _, v in out]
        assert versions[0] == "1" and versions[-1] == "2"
        switch = versions.index("2")
        assert set(versions[:switch]) == {"1"} and set(versions[switch:]) == {"2"}
    assert '"event": "swapped"' in err


def test_serve_handle_follows_a_stage_through_promotion_and_rollback(registry) -> None:
    from jupyter_mltrack import registry as r
    from jupyter_mltrack import serve

    client = registry["client"]
    server = serve("models:/churn/Production", poll_interval=0.1, client=client)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        frame, _ = training_frame(seed=9, rows=5)
        first = server.predict(frame)
        np.testing.assert_array_equal(first, fit_model(1.0).predict(frame))
        assert server.metadata()["version"] == 1 and server.version == 1
        assert "version 1" in repr(server) and "running" in repr(server)
        assert server.url in server._repr_html_()

        v2 = r.register_model(_log(client, registry["experiment"], 0.01), "churn",
                              client=client)
        r.transition_stage("churn", v2.version, "Production", archive_existing=True,
                           client=client)
        _wait(lambda: server.metadata()["version"] == 2, 60)
        np.testing.assert_array_equal(server.predict(frame), fit_model(0.01).predict(frame))
        r.rollback("churn", client=client)
        _wait(lambda: server.metadata()["version"] == 1, 60)
        assert server.metadata()["stage"] == "Production"
    finally:
        server.stop()
    assert "stopped" in repr(server)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=2)


def test_a_version_that_fails_to_load_keeps_the_old_one_serving(registry, tmp_path) -> None:
    from jupyter_mltrack import registry as r
    from jupyter_mltrack import serve

    client = registry["client"]
    broken = tmp_path / "broken"
    save_sklearn(broken)
    (broken / "model.skops").write_bytes(b"not a model")
    v2 = r.register_model(str(broken), "churn", client=client)
    server = serve("models:/churn@champion", poll_interval=0, client=client)
    try:
        r.set_alias("churn", "champion", v2.version, client=client)
        assert server.check() is False
        meta = server.metadata()
        assert meta["version"] == 1 and "version 2" in meta["last_error"]
        status, headers, _ = post(server.url, ONE_ROW)
        assert status == 200 and headers["x-model-version"] == "1"
    finally:
        server.stop()


def test_serve_on_a_taken_port_says_so(tmp_path: Path) -> None:
    from jupyter_mltrack import serve

    folder = tmp_path / "model"
    save_sklearn(folder)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(InvalidParameter, match="another port"):
            serve(folder, port=taken.getsockname()[1])


def _wait(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
