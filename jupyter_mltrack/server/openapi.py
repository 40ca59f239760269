"""``/openapi.json``: the OpenAPI 3 document, generated from the route table."""

from __future__ import annotations

import re
from typing import Any

from .._version import __version__
from .routes import Route

_ERROR = {"type": "object", "properties": {"error_code": {"type": "string"},
                                           "message": {"type": "string"}},
          "required": ["error_code", "message"]}


def _schema(kind: str, items: str, description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if kind == "array":
        schema["items"] = {"type": "object"} if items == "object" else {"type": "string"}
    if description:
        schema["description"] = description
    return schema


def _operation(route: Route) -> dict[str, Any]:
    path_names = re.findall(r"\{(\w+)(?::path)?\}", route.path)
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": route.method.lower() + re.sub(r"[^A-Za-z0-9]+", "_", route.path),
        "tags": [route.tag],
        "responses": {
            "200": {"description": "Done",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            "default": {"description": "An error, in MLflow's shape",
                        "content": {"application/json": {"schema": _ERROR}}},
        },
    }
    if route.access.scope == "public":
        op["security"] = []
    parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in path_names]
    if route.method == "GET":
        for p in route.params:
            schema = _schema(p.type, p.items)
            if p.type == "array":
                schema = {"type": "array", "items": {"type": "string"}}
            parameters.append({"name": p.name, "in": "query", "required": p.required,
                               "schema": schema})
    elif route.body == "binary":
        op["requestBody"] = {"required": True, "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    else:
        op["requestBody"] = {"required": bool(route.params), "content": {"application/json": {
            "schema": {"type": "object",
                       "properties": {p.name: _schema(p.type, "object" if p.name in
                                                      ("tags", "params", "metrics",
                                                       "datasets", "models") else p.items,
                                                      p.description)
                                      for p in route.params},
                       "required": [p.name for p in route.params if p.required]}}}}
    if parameters:
        op["parameters"] = parameters
    return op


def document(routes: list[Route]) -> dict[str, Any]:
    """The OpenAPI document of ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.tag == "unsupported":
            continue
        path = re.sub(r"\{(\w+):path\}", r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.0.3",
        "info": {"title": "jupyter_mltrack team server", "version": __version__,
                 "description": "MLflow's REST API (tracking, artifacts, registry, logged "
                                "models) plus /api/2.0/mltrack extras. Traces, prompts and "
                                "other GenAI routes answer 501."},
        "paths": paths,
        "components": {"securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            "bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"basic": []}, {"bearer": []}],
    }
