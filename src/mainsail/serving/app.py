"""The replica's HTTP face: ``POST /predict``, the Open Inference Protocol v2 (``/v2/...``), ``/health``,
``/ready`` and ``/metrics``. Bodies are parsed with orjson straight to numpy; errors are problem+json
naming the field (or, for OIP, the tensor)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import numpy as np
import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import Route

from mainsail import __version__
from mainsail.core.errors import InvalidInput, MainsailError, NotFound, ServiceUnavailable
from mainsail.serving import codec
from mainsail.serving.lane import ReplicaApp
from mainsail.serving.replica import Loaded, ReplicaState

JSON = "application/json"
ENTITY_KINDS = ("entity_id", "entities")
_PREDICT_BODY = {"requestBody": {"required": True, "content": {JSON: {"schema": {"oneOf": [
    {"type": "array", "items": {"type": "object"}, "description": "records"},
    {"type": "object", "properties": {
        "records": {"type": "array", "items": {"type": "object"}},
        "columns": {"type": "object", "additionalProperties": {"type": "array"}},
        "entity_id": {"description": "an entity id (or a list): features come from the online store"},
        "entities": {"type": "array", "items": {"type": "object"}, "description": "join-key rows, e.g. "
                     "[{\"customer_id\": \"C1\"}], optionally with request-time features"},
        "key": {"type": "string", "description": "sticky routing key (e.g. a user id)"},
        "request_id": {"type": "string"}}}]}}}}}
_OIP_BODY = {"requestBody": {"required": True, "content": {JSON: {"schema": {"type": "object", "properties": {
    "id": {"type": "string"}, "parameters": {"type": "object"},
    "inputs": {"type": "array", "items": {"type": "object", "required": ["name", "shape", "datatype"]}},
    "outputs": {"type": "array", "items": {"type": "object"}}}}}}}}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status, media_type=JSON,
                    headers=headers)


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise codec.bad(["body"], f"not valid JSON: {exc}") from None


def _params(endpoint: Any) -> Any:
    """A Starlette endpoint calling ``endpoint(**path_params, request=request)``."""
    async def call(request: Request) -> Response:
        return await endpoint(request=request, **request.path_params)
    return call


def create_replica_app(state: ReplicaState) -> ReplicaApp:
    """A FastAPI app serving ``state``'s deployment."""
    from mainsail.api.app import install_error_handlers
    from mainsail.api.limits import BodyLimitMiddleware
    from mainsail.core.settings import Settings

    app = ReplicaApp(title=f"Mainsail replica: {state.deployment}", version=__version__, docs_url="/docs")
    install_error_handlers(app)
    limits = Settings.from_env()
    app.add_middleware(BodyLimitMiddleware, json_limit=limits.max_json_body, upload_limit=limits.max_upload_body)
    app.state.replica = state
    app.state.extra_metrics = []  # more Prometheus text (a serve replica adds its monitor gauges)
    dep = state.deployment

    async def _shadow(loaded: Loaded, x: Any, rid: str, logged: bool) -> None:
        start = time.perf_counter()
        try:
            pred = await loaded.run(x)
            if logged:
                state.log(rid, loaded, time.perf_counter() - start, True, 200, x, codec.to_jsonable(pred))
        except Exception as exc:  # noqa: BLE001 - a shadow never affects the answer
            if logged:
                state.log(rid, loaded, time.perf_counter() - start, True, 500, x, str(exc))

    def _to_input(loaded: Loaded, kind: str, data: Any) -> Any:
        if kind == "records":
            return codec.records_to_input(data, loaded.spec)
        return codec.columns_to_input(data, loaded.spec) if kind == "columns" else data

    async def _run(loaded: Loaded, x: Any) -> Any:
        state.m_in_flight.inc()
        try:
            return await loaded.run(x)
        except MainsailError:
            raise
        except Exception as exc:
            raise MainsailError(f"variant {loaded.variant} ({loaded.model_name} v{loaded.version}) failed to "
                                f"predict: {type(exc).__name__}: {exc}", code="prediction_failed") from exc
        finally:
            state.m_in_flight.dec()

    def _mirror(routing: Any, loaded: Loaded, kind: str, data: Any, x: Any, rid: str, logged: bool) -> None:
        """Send a copy of the request to each shadow variant (off the answer's path)."""
        for shadow in routing.shadows:
            if shadow is loaded:
                continue
            try:
                sx = x if shadow.spec == loaded.spec or kind == "tensor" else _to_input(shadow, kind, data)
            except MainsailError:  # the shadow takes other inputs; it never affects the answer
                continue
            asyncio.ensure_future(_shadow(shadow, sx, rid, logged))

    async def _entity_records(loaded: Loaded, kind: str, data: Any) -> list[dict[str, Any]]:
        source = loaded.features
        if source is None:
            raise InvalidInput(f"variant {loaded.variant} ({loaded.model_name} v{loaded.version}) has no feature "
                               "service: set feature_service on the deployment, or send records",
                               code="no_feature_service",
                               errors=[{"loc": ["body", kind], "msg": "this deployment takes records, not entities"}])

        def lookup() -> list[dict[str, Any]]:
            rows = source.rows(state.client, kind, data)
            return source.records(state.client, rows, kind, loaded.spec.columns)

        return await run_in_threadpool(lookup)

    def _routing() -> Any:
        routing = state.routing
        if not routing.primaries:
            raise ServiceUnavailable(f"deployment {dep!r} has no model loaded yet", code="not_ready")
        return routing

    async def answer(raw: bytes, headers: Headers) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """``/predict``'s work on the raw body: (status, JSON body, extra headers). The route and the
        prediction lane (serving/lane.py) both answer with it."""
        start = time.perf_counter()
        state.arriving += 1
        arriving, loaded = True, None
        try:
            try:
                payload = _loads(raw)
                kind, data, key, rid = codec.parse_predict(payload)
                routing = _routing()
                loaded = routing.pick(key or headers.get("x-mainsail-key"))
                if kind in ENTITY_KINDS:  # features from the online store; the batcher need not wait for this
                    state.arriving -= 1
                    arriving = False
                    data = await _entity_records(loaded, kind, data)
                    kind = "records"
                x = _to_input(loaded, kind, data)
            finally:
                if arriving:
                    state.arriving -= 1
            pred = await _run(loaded, x)
        except Exception as exc:
            state.record_error(loaded, exc, time.perf_counter() - start)
            raise
        rid = rid or headers.get("x-request-id") or uuid.uuid4().hex
        logged = state.sampled()  # the capture percentage: one draw per request (a shadow follows it)
        _mirror(routing, loaded, kind, data, x, rid, logged)
        preds = codec.to_jsonable(pred)
        elapsed = time.perf_counter() - start
        state.record(loaded, len(preds), elapsed)
        if logged:
            state.log(rid, loaded, elapsed, False, 200, x if isinstance(x, np.ndarray) else data, preds)
        body = orjson.dumps({"predictions": preds, "request_id": rid, "variant": loaded.variant,
                             "model": loaded.model_name, "version": loaded.version}, option=orjson.OPT_SERIALIZE_NUMPY)
        return 200, body, [(b"x-mainsail-variant", loaded.variant.encode())]

    app.lane_answer = answer

    @app.post("/predict", tags=["predict"], summary="Predict on records, columns or entities",
              openapi_extra=_PREDICT_BODY)
    async def predict(request: Request) -> Response:
        status, body, headers = await answer(await request.body(), request.headers)
        return Response(body, status_code=status, media_type=JSON, headers={k.decode(): v.decode() for k, v in headers})

    # ------------------------------------------------------------ Open Inference Protocol v2
    def _model(name: str, routing: Any) -> Loaded | None:
        """``None`` routes through the deployment; a variant name pins that variant."""
        if name == dep:
            return None
        loaded = routing.variants.get(name)
        if loaded is None:
            raise NotFound(f"model {name!r} is not served here; use {dep!r} or a variant: "
                           f"{', '.join(routing.variants) or 'none loaded'}", code="model_not_found")
        return loaded

    @app.get("/v2", tags=["oip"], summary="OIP server metadata")
    def server_metadata() -> dict[str, Any]:
        return {"name": "mainsail", "version": __version__, "extensions": ["binary_tensor_data"]}

    @app.get("/v2/health/live", tags=["oip"], summary="OIP liveness")
    def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["oip"], summary="OIP readiness")
    def oip_ready() -> Response:
        ok = bool(state.routing.primaries)
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/v2/models/{name}", tags=["oip"], summary="OIP model metadata")
    def model_metadata(name: str) -> dict[str, Any]:
        routing = _routing()
        loaded = _model(name, routing) or routing.primaries[0][1]
        versions = sorted({str(v.version) for v in routing.variants.values()}) if name == dep else [str(loaded.version)]
        return {"name": name, "versions": versions, "platform": f"mainsail_{loaded.model.flavor}",
                "inputs": codec.oip_inputs_metadata(loaded.spec),
                "outputs": [{"name": "predict", "datatype": "FP64", "shape": [-1]}]}

    @app.get("/v2/models/{name}/ready", tags=["oip"], summary="OIP model readiness")
    def model_ready(name: str) -> Response:
        routing = state.routing
        ok = bool(routing.primaries) and (name == dep or name in routing.variants)
        return JSONResponse({"name": name, "ready": ok}, status_code=200 if ok else 503)

    @app.post("/v2/models/{name}/infer", tags=["oip"], summary="OIP inference", openapi_extra=_OIP_BODY)
    @app.post("/v2/models/{name}/versions/{version}/infer", tags=["oip"], summary="OIP inference (version)",
              openapi_extra=_OIP_BODY, include_in_schema=False)
    async def infer(name: str, request: Request, version: str | None = None) -> Response:
        start = time.perf_counter()
        state.arriving += 1
        loaded = None
        try:
            try:
                raw = await request.body()
                header_len = request.headers.get("inference-header-content-length")
                binary = None
                if header_len is not None:
                    try:
                        n = int(header_len)
                    except ValueError:
                        raise codec.bad(["header", "inference-header-content-length"], "expected an integer") from None
                    raw, binary = raw[:n], memoryview(raw)[n:]
                body = _loads(raw)
                if not isinstance(body, dict):
                    raise codec.bad(["body"], "expected an inference request object")
                routing = _routing()
                pinned = _model(name, routing)
                params = body.get("parameters")
                key = params.get("key") if isinstance(params, dict) else None
                loaded = pinned or routing.pick(str(key) if key is not None else None)
                if version is not None and version != str(loaded.version):
                    raise NotFound(f"model {name!r} version {version!r} is not served here (serving {loaded.version})",
                                   code="model_version_not_found")
                x = codec.oip_to_input(body, loaded.spec, binary)
            finally:
                state.arriving -= 1
            pred = await _run(loaded, x)
        except Exception as exc:
            state.record_error(loaded, exc, time.perf_counter() - start)
            raise
        rid = str(body.get("id") or uuid.uuid4().hex)
        logged = state.sampled()
        _mirror(routing, loaded, "tensor", x, x, rid, logged)
        outputs = [codec.oip_output("predict", pred)]
        wanted = {o.get("name") for o in body.get("outputs") or [] if isinstance(o, dict)}
        if "predict_proba" in wanted and hasattr(loaded.model, "predict_proba"):
            outputs.append(codec.oip_output("predict_proba", loaded.model.predict_proba(x)))
        elapsed = time.perf_counter() - start
        state.record(loaded, int(outputs[0]["shape"][0]) if outputs[0]["shape"] else 1, elapsed)
        if logged:
            state.log(rid, loaded, elapsed, False, 200, x, outputs[0]["data"])
        return _json({"model_name": name, "model_version": str(loaded.version), "id": rid, "outputs": outputs},
                     headers={"x-mainsail-variant": loaded.variant})

    # ------------------------------------------------------------ ops
    # The prediction routes also answer through plain Starlette routes placed first: FastAPI's request
    # handling (dependency solving, its per-route exception stack) costs ~50 µs a call and these endpoints
    # use none of it (they read the raw body). The FastAPI routes above stay for the OpenAPI document.
    app.router.routes[:0] = [Route("/predict", predict, methods=["POST"]),
                             Route("/v2/models/{name}/infer", _params(infer), methods=["POST"]),
                             Route("/v2/models/{name}/versions/{version}/infer", _params(infer), methods=["POST"])]

    @app.get("/health", tags=["ops"], summary="Liveness")
    def health() -> dict[str, str]:
        return {"status": "ok", "deployment": dep, "version": __version__}

    @app.get("/ready", tags=["ops"], summary="Readiness: a model is loaded", responses={503: {"description": "Not ready"}})
    def ready() -> Response:
        routing = state.routing
        body = {"status": "ready" if routing.primaries else "loading", "deployment": dep,
                "health": state.status.value, "message": state.message, "weights": routing.weights,
                "variants": {n: {"model": v.model_name, "version": v.version} for n, v in routing.variants.items()}}
        return JSONResponse(body, status_code=200 if routing.primaries else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        body = state.metrics.text() + b"".join(text() for text in app.state.extra_metrics)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app

