"""REST handlers of the ML Tracker: thin routes over the tracking and registry functions.

Every handler is a Jupyter ``APIHandler`` with ``@tornado.web.authenticated`` on each
method (no token: 403; writes also need the XSRF cookie). Store work runs on a small
thread pool so the server's event loop never waits on SQLite or the network. Errors of
the package map to their HTTP status with a JSON ``message`` (a bad filter: 400 with the
caret under the problem).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ... import registry as reg
from ...entities import ViewType
from ...errors import InvalidFilter, MLTrackError, http_status_for
from ...tracking import Client, quote_literal
from ...uris import TRACKING_URI_ENV, default_tracking_uri, resolve_tracking_uri
from . import OPEN_DASHBOARD_ENV, actions, payloads

T = TypeVar("T")

#: Prefix of every route, under the server's base URL.
PREFIX = "mltrack/api"
#: Tag of a run holding the id of the kernel that made it.
KERNEL_TAG = "mltrack.notebook.kernel_id"
MAX_RUNS = 1000

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mltrack-api")
_clients: dict[str, Client] = {}
_clients_lock = threading.Lock()


def tracking_uri(setting: str | None, root_dir: str) -> str:
    """The store the lab shows: the ``trackingUri`` setting (a relative path is taken
    from the server root), else ``MLTRACK_TRACKING_URI``, else the nearest ``.mltrack``
    folder from the server root."""
    if setting and setting.strip():
        text = setting.strip()
        if "://" not in text and not text.startswith("file:"):
            text = str(Path(root_dir, os.path.expanduser(text)))
        return resolve_tracking_uri(text)
    env = os.environ.get(TRACKING_URI_ENV)
    if env:
        return resolve_tracking_uri(env)
    return default_tracking_uri(root_dir)


def client_for(uri: str) -> Client:
    """One shared Client per tracking URI."""
    with _clients_lock:
        if uri not in _clients:
            _clients[uri] = Client(uri)
        return _clients[uri]


class _Handler(APIHandler):
    """Resolves the store of a request, runs service calls off the event loop and maps
    the package's errors to JSON responses."""

    @property
    def client(self) -> Client:
        return client_for(tracking_uri(self.get_query_argument("uri", ""),
                                       self.settings["mltrack_root_dir"]))

    async def call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(_pool, fn)

    async def reply(self, fn: Callable[[], Any], status: int = 200) -> None:
        try:
            body = await self.call(fn)
        except MLTrackError as exc:
            self.set_status(http_status_for(exc))
            error: dict[str, Any] = {"message": str(exc), "error": type(exc).__name__}
            if isinstance(exc, InvalidFilter):
                error["position"] = exc.position
            self.finish(json.dumps(error))
            return
        self.set_status(status)
        self.finish(json.dumps(body))

    def body(self) -> dict[str, Any]:
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except ValueError:
            raise tornado.web.HTTPError(400, "The request body is not JSON.") from None
        if not isinstance(data, dict):
            raise tornado.web.HTTPError(400, "The request body must be a JSON object.")
        return data

    def arg(self, name: str) -> str:
        return self.get_query_argument(name, "").strip()

    def arg_list(self, name: str) -> list[str]:
        return [x for x in (p.strip() for p in self.arg(name).split(",")) if x]


class StoreHandler(_Handler):
    """GET: the store in use and whether the lab should open the dashboard."""

    @tornado.web.authenticated
    async def get(self) -> None:
        root = self.settings["mltrack_root_dir"]
        uri = tracking_uri(self.arg("uri"), root)

        def store() -> dict[str, Any]:
            label = uri
            if uri.startswith("sqlite:///"):
                path = Path(uri[len("sqlite:///"):])
                try:
                    label = str(path.relative_to(Path(root).resolve()))
                except ValueError:
                    label = str(path)
            return {"tracking_uri": uri, "label": label,
                    "open_dashboard": os.environ.get(OPEN_DASHBOARD_ENV) == "1"}

        await self.reply(store)


class ExperimentsHandler(_Handler):
    """GET: active experiments."""

    @tornado.web.authenticated
    async def get(self) -> None:
        client = self.client
        await self.reply(lambda: [payloads.experiment(e)
                                  for e in client.search_experiments(max_results=50_000)])


class RunsHandler(_Handler):
    """GET ``?experiment_ids=1,2&filter=...&order_by=...&max_results=``: runs, newest
    first."""

    @tornado.web.authenticated
    async def get(self) -> None:
        client = self.client
        ids, text, order = (self.arg_list("experiment_ids"), self.arg("filter"),
                            self.arg("order_by"))
        try:
            limit = min(int(self.arg("max_results") or 200), MAX_RUNS)
        except ValueError:
            raise tornado.web.HTTPError(400, "max_results must be a whole number.") from None

        def runs() -> list[dict[str, Any]]:
            found = client.search_runs(ids or None, text or None, ViewType.ACTIVE_ONLY,
                                       max_results=limit, order_by=order or None)
            return [payloads.run(r) for r in found]

        await self.reply(runs)


class RunHandler(_Handler):
    """GET: one run with tags and top-level artifacts; DELETE: delete it (soft)."""

    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        client = self.client

        def detail() -> dict[str, Any]:
            run = client.get_run(run_id)
            out = payloads.run(run, tags=True)
            out["experiment"] = payloads.experiment(client.get_experiment(
                run.info.experiment_id))
            out["artifacts"] = [payloads.file_info(f) for f in client.list_artifacts(run_id)]
            return out

        await self.reply(detail)

    @tornado.web.authenticated
    async def delete(self, run_id: str) -> None:
        client = self.client

        def delete() -> dict[str, Any]:
            client.delete_run(run_id)
            return {"deleted": run_id}

        await self.reply(delete)


class ArtifactsHandler(_Handler):
    """GET ``?path=``: the artifacts of a run in one folder."""

    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        client, path = self.client, self.arg("path")
        await self.reply(lambda: [payloads.file_info(f)
                                  for f in client.list_artifacts(run_id, path or None)])


class MetricHistoryHandler(_Handler):
    """GET ``?run_ids=a,b&key=loss``: each run's history of one metric, for charts."""

    @tornado.web.authenticated
    async def get(self) -> None:
        client, run_ids, key = self.client, self.arg_list("run_ids"), self.arg("key")
        if not key:
            raise tornado.web.HTTPError(400, "Name the metric: ?key=loss.")

        def history() -> dict[str, Any]:
            return {run_id: payloads.history_points(client.get_metric_history(run_id, key))
                    for run_id in run_ids[:50]}

        await self.reply(history)


class ActiveRunHandler(_Handler):
    """GET ``?kernel_id=``: the RUNNING run a kernel made, or ``null``."""

    @tornado.web.authenticated
    async def get(self) -> None:
        client, kernel = self.client, self.arg("kernel_id")
        if not kernel:
            raise tornado.web.HTTPError(400, "Name the kernel: ?kernel_id=<id>.")

        def active() -> dict[str, Any]:
            text = (f"attributes.status = 'RUNNING' AND "
                    f"tags.`{KERNEL_TAG}` = {quote_literal(kernel)}")
            found = client.search_runs(None, text, ViewType.ACTIVE_ONLY, max_results=1)
            return {"run": payloads.run(found[0]) if len(found) else None}

        await self.reply(active)


class ModelsHandler(_Handler):
    """GET: registered models with their versions, stages and aliases."""

    @tornado.web.authenticated
    async def get(self) -> None:
        client = self.client

        def models() -> list[dict[str, Any]]:
            out = []
            for m in reg.search_registered_models(client=client):
                versions = reg.search_model_versions(f"name = {quote_literal(m.name)}",
                                                     max_results=200, client=client)
                out.append(payloads.model(m, list(versions)))
            return out

        await self.reply(models)


class ModelHandler(_Handler):
    """GET: one model's versions (with source-run metrics), policy, pending requests and
    history, as the registry view needs them."""

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        client = self.client

        def detail() -> dict[str, Any]:
            m = reg.get_registered_model(name, client=client)
            versions = list(reg.search_model_versions(f"name = {quote_literal(name)}",
                                                      max_results=200, client=client))
            out = payloads.model(m, versions)
            run_ids = sorted({v.run_id for v in versions if v.run_id})
            metrics = {r.info.run_id: {k: payloads.number(x) for k, x in r.data.metrics.items()}
                       for r in client.get_runs(run_ids)}
            for v in out["versions"]:
                v["metrics"] = metrics.get(v["run_id"] or "", {})
            out["policy"] = payloads.policy(reg.get_registry_policy(name, client=client))
            out["pending"] = [payloads.request(q)
                              for q in reg.transition_requests(name, client=client)]
            out["history"] = [payloads.transition(x) for x in
                              reversed(reg.history_records(name, client=client))][:100]
            return out

        await self.reply(detail)


class ModelActionHandler(_Handler):
    """POST ``{"confirm": false, ...}``: the question to confirm; ``{"confirm": true}``:
    do it. Body: version, comment, archive_existing, alias, request_id."""

    @tornado.web.authenticated
    async def post(self, name: str, action: str) -> None:
        client, body = self.client, self.body()

        def act() -> dict[str, Any]:
            planned = actions.plan(client, name, action, body)
            if not body.get("confirm"):
                return {"question": planned.question}
            return {"message": planned.run()}

        await self.reply(act)


#: (route under PREFIX, handler). tests/test_server_lab.py walks every one.
ROUTES: list[tuple[str, type[_Handler]]] = [
    ("store", StoreHandler),
    ("experiments", ExperimentsHandler),
    ("runs", RunsHandler),
    (r"runs/(?P<run_id>[^/]+)", RunHandler),
    (r"runs/(?P<run_id>[^/]+)/artifacts", ArtifactsHandler),
    ("metric-history", MetricHistoryHandler),
    ("active-run", ActiveRunHandler),
    ("models", ModelsHandler),
    (r"models/(?P<name>[^/]+)", ModelHandler),
    (r"models/(?P<name>[^/]+)/actions/(?P<action>[^/]+)", ModelActionHandler),
]


def setup_handlers(web_app: Any, root_dir: str) -> None:
    """Add the routes to a Jupyter server's tornado application."""
    web_app.settings["mltrack_root_dir"] = root_dir
    base = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [(url_path_join(base, PREFIX, route) + "$", handler)
                                 for route, handler in ROUTES])


__all__ = ["PREFIX", "ROUTES", "client_for", "setup_handlers", "tracking_uri"]
