"""The FastAPI app of ``graphrec serve``: JSON endpoints and the web page.

Endpoints (raw ids are strings, as in the dataset's files):

- ``GET /health``: liveness and the served model.
- ``GET /meta``: run, model, scenarios and the user ids the page lists.
- ``GET /recommend?user=&scenario=&k=10``: top ``k`` unseen items with titles, genres and scores.
- ``GET /similar?item=&k=10[&scenario=]``: the items closest to an item.
- ``GET /history?user=&scenario=&limit=20``: a user's interactions in a scenario, newest first.
- ``GET /transfer``: the learned cross-scenario transfer weights, when the model has them.
- ``POST /interactions`` with ``{"user": ..., "items": [...], "scenario": ...}``: add interactions and fold the user in.
- ``DELETE /interactions?user=``: forget a user's added interactions.
- ``GET /``: the web page (``static/``), which uses only the endpoints above and loads nothing from other hosts.

Every error is a JSON object ``{"error": message, "parameter": name}`` with a
4xx status that names the offending query parameter or body field. An
unexpected exception is logged and returns status 500, and the service
keeps running.

The GET endpoints are plain Starlette routes that read their query
parameters with :class:`QueryReader` instead of FastAPI's declared
parameters, because ``/recommend`` has a latency target at 50 concurrent
requests. Under uvicorn's pure-Python HTTP parser (h11), a FastAPI route with
three validated query parameters cost about 120 us of CPU per request against
about 47 us for a plain route (measured once on a loaded 2-core machine). The POST body keeps FastAPI's pydantic validation.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Callable

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphrec import __version__
from graphrec.serve.service import MAX_ITEMS_PER_REQUEST, RecommendationService, RequestError

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
#: Largest request body accepted, in bytes; a POST /interactions body of 100 ids needs a few kB.
MAX_BODY_BYTES = 64 * 1024
#: Maximum length of a raw id or scenario name in a query parameter or body field.
MAX_ID_LENGTH = 200

RawId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_ID_LENGTH)]


class InteractionsBody(BaseModel):
    """Body of POST /interactions. Ids may be JSON strings or integers."""

    model_config = ConfigDict(extra="forbid")

    user: RawId | StrictInt
    items: list[RawId | StrictInt] = Field(min_length=1, max_length=MAX_ITEMS_PER_REQUEST)
    scenario: RawId | None = None


class QueryReader:
    """Typed access to query parameters; each problem raises a RequestError naming the parameter."""

    def __init__(self, params: QueryParams):
        self.params = params

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.params.get(name)
        if value is None or value == "":
            if required:
                raise RequestError(name, f"missing query parameter {name}")
            return None
        if len(value) > MAX_ID_LENGTH:
            raise RequestError(name, f"{name} is longer than {MAX_ID_LENGTH} characters")
        return value

    def integer(self, name: str, default: int) -> int:
        value = self.params.get(name)
        if value is None:
            return default
        # int() would also accept "1_000" and " 7 "; a query value must be plain digits with an optional sign.
        digits = value[1:] if value[:1] in "+-" else value
        if not (digits.isascii() and digits.isdigit()):
            raise RequestError(name, f"{name} must be an integer, got {value[:40]!r}")
        if len(digits) > 9:
            raise RequestError(name, f"{name} is out of range: {value[:40]!r}")
        return int(value)


def create_app(service: RecommendationService) -> FastAPI:
    """Build the app that serves ``service``."""
    # FastAPI's generated API pages would list only POST /interactions, because the GET routes are plain
    # Starlette routes, so they are off (docs/serving.md lists the API). With telemetry off, FastAPI skips
    # its per-request OpenTelemetry checks.
    app = FastAPI(
        title="graphrec", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    rejections = RejectionLog()
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, rejections=rejections)
    _add_error_handlers(app, rejections)
    _add_read_routes(app, service)
    _add_write_routes(app, service)
    _add_page_routes(app)
    return app


def _json_route(app: FastAPI, path: str, build: Callable[[QueryReader], Any], methods: tuple[str, ...] = ("GET",)) -> None:
    """Register ``build`` at ``path``; it returns a dict (encoded here) or finished JSON bytes."""

    async def endpoint(request: Request) -> Response:
        result = build(QueryReader(request.query_params))
        if isinstance(result, bytes):
            return Response(result, media_type="application/json")
        return JSONResponse(result)

    app.add_route(path, endpoint, methods=list(methods))


def _add_read_routes(app: FastAPI, service: RecommendationService) -> None:
    # Each handler is a few microseconds of NumPy work, so it runs on the event loop, not in a thread pool.
    def recommend(query: QueryReader) -> bytes:
        user, scenario, k = query.text("user", required=True), query.text("scenario"), query.integer("k", 10)
        return service.to_json(service.rank_for_user(user, scenario, k))

    def similar(query: QueryReader) -> bytes:
        item, k, scenario = query.text("item", required=True), query.integer("k", 10), query.text("scenario")
        return service.to_json(service.rank_similar(item, k, scenario))

    def history(query: QueryReader) -> dict:
        user, scenario, limit = query.text("user", required=True), query.text("scenario"), query.integer("limit", 20)
        return service.history(user, scenario, limit)

    _json_route(app, "/health", lambda query: service.health())
    _json_route(app, "/meta", lambda query: service.meta())
    _json_route(app, "/transfer", lambda query: service.transfer())
    _json_route(app, "/recommend", recommend)
    _json_route(app, "/similar", similar)
    _json_route(app, "/history", history)


def _add_write_routes(app: FastAPI, service: RecommendationService) -> None:
    @app.post("/interactions")
    async def add_interactions(body: InteractionsBody) -> JSONResponse:
        items = [str(item) for item in body.items]
        return JSONResponse(service.add_interactions(str(body.user), items, body.scenario))

    def clear_interactions(query: QueryReader) -> dict:
        return service.clear_interactions(query.text("user", required=True))

    _json_route(app, "/interactions", clear_interactions, methods=("DELETE",))


def _add_page_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _error(status: int, parameter: str | None, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "parameter": parameter}, status_code=status)


class RejectionLog:
    """Logs rejected requests: the first ``first`` one by one, then every ``every``-th with the running count."""

    def __init__(self, first: int = 100, every: int = 1000):
        self.first = first
        self.every = every
        self.count = 0

    def reject(self, method: str, path: str, status: int, parameter: str | None, message: str) -> JSONResponse:
        """Log one rejected request and build its error response."""
        self.count += 1
        if self.count <= self.first or self.count % self.every == 0:
            logger.info("rejected %s %s with %d (%s): %s [rejection %d]",
                        method, path, status, parameter, message, self.count)
        return _error(status, parameter, message)


def _add_error_handlers(app: FastAPI, rejections: RejectionLog) -> None:
    @app.exception_handler(RequestError)
    async def request_error(request: Request, err: RequestError) -> JSONResponse:
        return rejections.reject(request.method, request.url.path, err.status, err.parameter, str(err))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0]
        parameter = _parameter_name(first.get("loc", ()))
        message = f"invalid {parameter}: {first.get('msg', 'invalid value')}"
        return rejections.reject(request.method, request.url.path, 422, parameter, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        parameter = "body" if err.status_code == 413 else None
        return rejections.reject(request.method, request.url.path, err.status_code, parameter, str(err.detail))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, err: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, None, f"internal error ({type(err).__name__}); the service log has the details")


def _parameter_name(location: tuple[Any, ...]) -> str:
    """Turn a validation error location such as ``("body", "items", 2)`` into ``items[2]``."""
    parts = list(location)
    if parts and parts[0] in ("query", "body", "path", "header"):
        source = parts.pop(0)
        if not parts or not isinstance(parts[0], str):
            return "body" if source == "body" else str(source)
    name = str(parts[0]) if parts else "request"
    for part in parts[1:]:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            break
    return name


class BodySizeLimit:
    """ASGI middleware that rejects request bodies over ``max_bytes`` with status 413.

    A declared ``Content-Length`` is checked before the app runs. A chunked
    body is counted while the app reads it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, rejections: RejectionLog):
        self.app = app
        self.max_bytes = max_bytes
        self.rejections = rejections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            message = f"request body larger than {self.max_bytes} bytes"
            response = self.rejections.reject(scope.get("method", ""), scope.get("path", ""), 413, "body", message)
            await response(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI passes an HTTPException raised while reading the body on to its handler.
                    raise HTTPException(status_code=413, detail=f"request body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, counting_receive, send)
