"""Fuzz every operation in the OpenAPI document with schemathesis, with valid and invalid input:
nothing a user can send may cause a 500, and every response must match its documented status code,
content type and schema. A failure shows the request (as a curl command) and the server traceback."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from _services import pg_schema_url
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mainsail.api.app import create_app
from mainsail.core.runtime import Runtime
from mainsail.core.settings import Settings

# Rules a JSON Schema cannot state, by operation: (why, the error locations they answer at). Any other
# 422 for input the OpenAPI document calls valid (schemathesis' positive cases) fails the test: the
# document must describe what the server accepts.
NOT_IN_SCHEMA: dict[str, tuple[str, tuple[tuple[str | int, ...], ...]]] = {
    "GET /api/v1/tracking-runs": ("filter and order_by are a query language", (("filter",), ("order_by",))),
    "POST /api/v1/datasets/{name}/versions": ("the body is a readable Parquet file; source is a JSON object",
                                              (("body",), ("query", "source"))),
    "POST /api/v1/feature-sets/historical": ("the body is a readable Parquet file (or empty: the views' rows), "
                                             "and features or a service is named", (("body",), ("features",))),
    "POST /api/v1/datasets/{name}/versions/{version}/validations": (
        "a check gives min or max, and min <= max", (("body", "checks"),)),
    "POST /api/v1/deployments": ("a model URI ends in a version number or a stage name", (("body", "variants"),)),
    "POST /api/v1/deployments/{name}/rollout": ("steps increase; a quality guard's (metric, source) is unique",
                                                (("body", "steps"), ("body", "guards", "quality"))),
    "GET /api/v1/deployments/{name}/performance": ("start is before end; a window splits them into at most "
                                                    "10,000 windows", (("query", "start"), ("query", "window"))),
    "POST /api/v1/labels": ("exactly one of labels or a dataset; a request id once per push; the dataset's "
                            "columns exist", (("body",), ("dataset",))),
    "POST /api/v1/feature-sets": ("names are unique; each source kind needs its own field (path, query, dataset)",
                                  (("body", "entities"), ("body", "views"), ("body", "services"))),
    "POST /api/v1/feature-sets/online": ("features or a service is named", (("features",),)),
    "POST /api/v1/models": ("source or artifacts is given; artifacts name stored blobs, or files uploaded (valid "
                            "base64) or in the named run; framework unless the files are a Mainsail package; "
                            "external_source comes alone (without source, artifacts or files)",
                            (("body", "source"), ("body", "artifacts"), ("body", "files"), ("body", "framework"),
                             ("body", "external_source"))),
    "POST /api/v1/runs": ("the run gives each task of the pipeline the params it needs", (("body", "params"),)),
    "POST /api/v1/alerts/rules": ("a condition is FIELD OP VALUE joined by and/or; a duration is at most 366 days; "
                                  "channels exist", (("body", "condition"), ("body", "for_duration"),
                                                     ("body", "channels"))),
    "PUT /api/v1/alerts/rules/{name}": ("as POST /alerts/rules, and the body names the path's rule",
                                        (("body", "condition"), ("body", "for_duration"), ("body", "channels"),
                                         ("body", "name"))),
    "POST /api/v1/alerts/silences": ("either duration (over 0, at most 366 days) or ends_at, in the future",
                                     (("body",),)),
    "POST /api/v1/alerts/channels": ("each kind takes its own fields: url (webhook, slack), email (email)",
                                     (("body",),)),
    "POST /api/v1/monitors": ("exactly one of deployment or dataset, a reference kind that fits it, a window "
                              "start before its end, a cron schedule, a duration like '1h', known tests", (("body",),)),
    "POST /api/v1/monitors/{name}/runs": ("start is before end", (("body", "start"),)),
    "POST /api/v1/pipelines": ("a task's operator is a registered one", (("body", "tasks"),)),
    "POST /api/v1/loops": ("the deployment, pipeline, alert rule and candidate task exist and the params fit the "
                           "pipeline; trigger 'alert' goes with an alert_rule; gate rules are OP NUMBER; canary "
                           "steps increase and include a quality guard, each (metric, source) once", (("body",),)),
    "PUT /api/v1/loops/{name}": ("as POST /loops, and the body names the path's policy", (("body",),)),
    "POST /api/v1/pipelines/{name}/schedules": ("exactly one of cron (valid cron syntax) or event", (("body",),)),
    "PUT /api/v1/tracking-runs/{run_id}/artifacts/{path}": (
        "the URL path is percent-decoded before the key's rule applies (a sent '%09' is a tab)", (("path", "path"),)),
    "POST /api/v1/tracking-runs/{run_id}/log-batch": ("metric columns have equal lengths", (("body", "metrics"),)),
    "POST /api/v1/auth/tokens": ("a caller that is no user of the server (the embedded local admin) names the "
                                 "token's owner", (("body", "user"),)),
    "POST /api/v1/users": ("a user has a password, a service account none", (("body", "password"),)),
    "GET /api/v1/costs/report": ("since is before until", (("query", "since"),)),
    "POST /api/v1/costs/usage": ("a record ends at or after its start", (("body", "records"),)),
    "POST /api/v1/costs/budgets": ("channels exist", (("body", "channels"),)),
    "POST /api/v1/comments": ("@mentions name users; a dataset version is DATASET@VERSION",
                              (("body", "text"), ("body", "ref"))),
    "PATCH /api/v1/comments/{id}": ("@mentions name users", (("body", "text"),)),
    "GET /api/v1/comments": ("a dataset version is DATASET@VERSION; a watched project is the call's",
                             (("query", "ref"),)),
    "POST /api/v1/reviews": ("reviewers are users; a dataset version is DATASET@VERSION",
                             (("body", "reviewers"), ("body", "ref"))),
    "GET /api/v1/reviews": ("a dataset version is DATASET@VERSION", (("query", "ref"),)),
    "GET /api/v1/approvals": ("a dataset version is DATASET@VERSION", (("query", "ref"),)),
    "GET /api/v1/activity": ("kind and ref come together; a dataset version is DATASET@VERSION",
                             (("query", "ref"), ("query", "kind"))),
    "POST /api/v1/watches": ("a dataset version is DATASET@VERSION; a project is the call's", (("body", "ref"),)),
    "GET /api/v1/watches": ("a dataset version is DATASET@VERSION; a project is the call's", (("query", "ref"),)),
    "DELETE /api/v1/watches/{kind}/{ref}": ("a dataset version is DATASET@VERSION; a project is the call's",
                                            (("path", "ref"),)),
    "POST /api/v1/inbox/read": ("ids or all is given", (("body", "ids"),)),
    "PUT /api/v1/inbox/preferences": ("channels exist", (("body", "channels"),)),
}


def _documented_refusal(label: str, error: dict[str, Any]) -> bool:
    """A 422 for schema-valid input that the API documents for every operation, or one listed above."""
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "string_unstorable" or loc[-1:] == ("cursor",) or loc == ("header", "idempotency-key"):
        return True  # NUL / lone surrogates in any string; an opaque cursor; a key reused for another call
    prefixes = NOT_IN_SCHEMA.get(label, ("", ()))[1]
    return any(loc[:len(p)] == p or loc[1:1 + len(p)] == p for p in prefixes)


@schemathesis.check
def schema_valid_input_is_accepted(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """Input generated from the schema (positive mode) is not refused with a 422 the schema does not explain."""
    meta = case.meta
    if response.status_code != 422 or meta is None or not meta.generation.mode.is_positive or case.id in SEEDED_CASES:
        return None
    errors = response.json().get("errors") or [{"loc": [], "msg": response.json().get("detail")}]
    undocumented = [e for e in errors if not _documented_refusal(case.operation.label, e)]
    if undocumented:
        raise AssertionError(f"{case.operation.label} refused input its OpenAPI schema allows: {undocumented}")
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          schema_valid_input_is_accepted]
SEEDED = ("experiment_id", "run_id", "id", "name", "version", "alias", "key", "path")  # path parameters
PLACEHOLDER = "seeded-"  # the test swaps "seeded-<param>" for the seeded row's value just before the call
SEEDED_CASES: set[str] = set()  # ids of cases whose path parameters were swapped for seeded values

# The OpenAPI document does not depend on the database, so collection needs none (a placeholder runtime).
DOC = create_app(runtime=cast(Runtime, object())).openapi()
schema = schemathesis.openapi.from_dict(DOC)
schema.config.output.sanitization.update(enabled=False)  # show the Idempotency-Key a failure was sent with


@schema.hook("flatmap_path_parameters")
def _seeded(_ctx: Any, params: dict[str, Any] | None) -> st.SearchStrategy:
    """Half the cases address seeded rows (so handlers get past their 404s); half keep fuzzed values."""
    if not params:
        return st.just(params)
    return st.sampled_from([params, {k: f"{PLACEHOLDER}{k}" if k in SEEDED else v for k, v in params.items()}])


def _seeded_app(settings: Settings) -> FastAPI:
    """An app over ``settings``' fresh database: experiment ``seed`` with a running run (param ``p``,
    metric ``m``, artifact ``a.txt``) and registered model ``seed`` version 1 (file ``a.txt``, alias
    ``champion``)."""
    app = create_app(settings)
    with TestClient(app) as c:
        def ok(method: str, url: str, **kw: Any) -> Any:
            r = c.request(method, f"/api/v1{url}", **kw)
            r.raise_for_status()
            return r.json()

        exp = ok("POST", "/experiments", json={"name": "seed"})["id"]
        run = ok("POST", "/tracking-runs", json={"experiment_id": exp, "params": {"p": "1"}})["id"]
        c.post(f"/api/v1/tracking-runs/{run}/log-batch",
               json={"metrics": {"key": ["m"], "value": [0.5], "step": [0], "timestamp": [0.0]}}).raise_for_status()
        digest = ok("PUT", f"/tracking-runs/{run}/artifacts/a.txt", content=b"hi")["digest"]
        version = ok("POST", "/models", json={"name": "seed", "framework": "sklearn", "run_id": run,
                                              "artifacts": {"a.txt": digest}})["id"]
        ok("PUT", "/registered-models/seed/aliases/champion", json={"version": 1})
    app.state.seeds = {"experiment_id": exp, "run_id": run, "id": version, "name": "seed", "version": "1",
                       "alias": "champion", "key": "m", "path": "a.txt"}
    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    """A fresh seeded SQLite database per operation."""
    app = _seeded_app(Settings.from_env().with_uri(f"sqlite:///{tmp_path}/db.db", f"{tmp_path}/artifacts"))
    yield app
    app.state.runtime.dispose()


@pytest.fixture(scope="module")
def pg_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """One seeded PostgreSQL schema for the whole PostgreSQL fuzz run (a schema and its migrations per
    operation would cost minutes); what one operation's cases change, the next one's may see."""
    with pg_schema_url() as url:
        root = tmp_path_factory.mktemp("pg-fuzz-artifacts")
        app = _seeded_app(Settings.from_env().with_uri(url, str(root)))
        yield app
        app.state.runtime.dispose()


def _call(case: schemathesis.Case, app: FastAPI) -> None:
    if case.path_parameters:
        if any(v == f"{PLACEHOLDER}{k}" for k, v in case.path_parameters.items()):
            SEEDED_CASES.add(case.id)  # a seeded value (version "1") may not fit this operation's schema
        case.path_parameters = {k: app.state.seeds[k] if v == f"{PLACEHOLDER}{k}" else v
                                for k, v in case.path_parameters.items()}
    case.call_and_validate(app=app, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_fuzz_operation(case: schemathesis.Case, app: FastAPI) -> None:
    _call(case, app)


@schema.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_fuzz_operation_postgres(case: schemathesis.Case, pg_app: FastAPI) -> None:
    """The same fuzz on PostgreSQL, which refuses what SQLite stores (NUL in text, integers past a
    column's width): fewer examples per operation to keep the suite's time."""
    _call(case, pg_app)


def test_operation_ids_are_unique_and_every_error_is_a_problem_document() -> None:
    ops = [(f"{method.upper()} {path}", op) for path, item in DOC["paths"].items() if path.startswith("/api/")
           for method, op in item.items()]
    ids = [op["operationId"] for _, op in ops]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for where, op in ops:
        errors = {code: r for code, r in op["responses"].items() if code.startswith(("4", "5"))}
        assert {"422", "503"} <= errors.keys(), where
        for r in errors.values():
            assert r["content"] == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "Problem" in DOC["components"]["schemas"]


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(b'{"o":%d}' % offset).decode().rstrip("=")


def _manifest(body: bytes) -> list[tuple[str, str, dict[str, Any]]]:
    return [("PUT", "/tracking-runs/{run_id}/artifacts/pkg/mainsail-model.json", {"content": body}),
            ("POST", "/models", {"json": {"name": "m", "source": "runs:/{run_id}/pkg"}})]


EDGE: dict[str, list[tuple[str, str, dict[str, Any]]]] = {  # inputs the fuzzer (almost) never generates
    "cursor offset past int64": [("GET", f"/tracking-runs?cursor={_cursor(2**63)}", {}),
                                 ("GET", f"/experiments?cursor={_cursor(2**63)}", {}),
                                 ("GET", f"/registered-models?cursor={_cursor(2**63)}", {})],
    "metric step past int64": [("POST", "/tracking-runs/{run_id}/log-batch", {"json": {"metrics": {
        "key": ["m"], "value": [1.0], "step": [2**63], "timestamp": [0.0]}}})],
    "start_time out of range in UTC": [("POST", "/tracking-runs", {"json": {
        "experiment_id": "{experiment_id}", "start_time": "0001-01-01T00:00:00+01:00"}})],
    "end_time out of range in UTC": [("PATCH", "/tracking-runs/{run_id}", {"json": {
        "status": "finished", "end_time": "9999-12-31T23:59:59-05:00"}})],
    "filter number past int64": [("GET", "/tracking-runs", {"params": {"filter": "metrics.m > 1" + "0" * 20}}),
                                 ("GET", "/tracking-runs", {"params": {"filter": "params.p < 1" + "0" * 20}})],
    "filter time out of range in UTC": [("GET", "/tracking-runs", {"params": {
        "filter": "start_time > '0001-01-01T00:00:00+01:00'"}})],
    "blank experiment name": [("PUT", "/experiments/by-name/%20", {})],
    "experiment name too long": [("PUT", "/experiments/by-name/" + "x" * 300, {})],
    "version number past int64": [("GET", "/registered-models/seed/versions/" + str(2**63), {}),
                                  ("PUT", "/registered-models/seed/aliases/a", {"json": {"version": 2**63}})],
    "version number past int32": [("GET", "/registered-models/seed/versions/" + str(2**31), {}),
                                  ("PUT", "/registered-models/seed/aliases/a", {"json": {"version": 2**31}}),
                                  ("POST", "/deployments", {"json": {"name": "d", "variants": [
                                      {"name": "v", "model": f"models:/seed/{2**31}", "weight": 100}]}})],
    "NUL in strings": [("POST", "/experiments", {"json": {"name": "a\x00"}}),
                       ("PUT", "/experiments/by-name/a%00", {}),
                       ("GET", "/experiments/by-name/a%00", {}),
                       ("GET", "/tracking-runs", {"params": {"filter": "params.p = 'a\x00'"}}),
                       ("GET", "/tracking-runs/compare", {"params": {"run_ids": ["{run_id}", "a\x00"]}}),
                       ("PUT", "/tracking-runs/{run_id}/artifacts/a%00", {"content": b"x"}),
                       ("POST", "/tracking-runs", {"json": {"experiment_id": "{experiment_id}",
                                                            "params": {"p": "a\x00"}}})],
    "manifest not JSON": _manifest(b"not json"),
    "manifest not an object": _manifest(b"[1]"),
    "manifest signature not an object": _manifest(b'{"flavor": "x", "signature": [1]}'),
    "manifest flavor not a string": _manifest(b'{"flavor": 5}'),
}


@pytest.mark.parametrize("db", ["app", "pg_app"], ids=["sqlite", "postgres"])
@pytest.mark.parametrize("steps", EDGE.values(), ids=EDGE.keys())
def test_edge_input_is_not_a_server_error(steps: list[tuple[str, str, dict[str, Any]]], db: str,
                                          request: pytest.FixtureRequest) -> None:
    app: FastAPI = request.getfixturevalue(db)

    def fill(text: str) -> str:
        for k, v in app.state.seeds.items():
            text = text.replace(f"{{{k}}}", v)
        return text

    with TestClient(app, raise_server_exceptions=False) as c:  # a 500's traceback is in the captured log
        for method, path, kw in steps:
            if "json" in kw:
                kw = {**{k: v for k, v in kw.items() if k != "json"}, "content": fill(json.dumps(kw["json"])),
                      "headers": {"content-type": "application/json"}}
            r = c.request(method, "/api/v1" + fill(path), **kw)
            assert r.status_code < 500, f"{method} {fill(path)} {kw} -> {r.status_code} {r.text}"
