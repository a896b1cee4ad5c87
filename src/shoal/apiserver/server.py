"""The API server: Kubernetes REST over HTTP, built in one function.

``build_app`` wires the chain: authentication (a bearer token, required off loopback), error
rendering (every ``ApiError`` becomes a ``Status`` body; anything else a 500 that is
logged), discovery, OpenAPI, version, health, the resource endpoints under ``/api/v1``
and ``/apis/G/V``, and a revision's logs at ``/logs/NS/REVISION`` (``logs``).
``ApiServer`` runs it on a host and port and stops it cleanly.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

import shoal
from shoal.api.errors import ApiError, InternalError, NotFound, Unauthorized
from shoal.apiserver import discovery, openapi, openapi_pb
from shoal.apiserver.handlers import USER, ResourceHandler, resolve
from shoal.apiserver.logs import LogSources, log_handler
from shoal.apiserver.registry import Registry

log = logging.getLogger("shoal.apiserver")

DEFAULT_MAX_BODY = 3 * 1024 * 1024  # Kubernetes' limit on a request body
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _status_response(err: ApiError) -> web.Response:
    return web.Response(body=json.dumps(err.status()).encode(), status=err.code,
                        content_type="application/json")


def _json(body: object, content_type: str = "application/json") -> web.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = web.Response(body=data)
    resp.headers["Content-Type"] = content_type
    return resp


def build_app(registry: Registry, *, token: str | None = None,
              max_body: int = DEFAULT_MAX_BODY, bookmark_interval: float = 60.0,
              logs: LogSources | None = None) -> web.Application:
    catalog = registry.catalog
    resources = ResourceHandler(registry, max_body=max_body,
                                bookmark_interval=bookmark_interval)

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return _status_response(exc)
        except web.HTTPException as exc:
            if exc.status == 404:
                return _status_response(NotFound(
                    "the server could not find the requested resource"))
            raise
        except Exception as exc:
            log.exception("%s %s failed", request.method, request.path)
            return _status_response(InternalError(f"internal error: {exc}"))

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token is not None and request.path not in ("/healthz", "/livez", "/readyz"):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise Unauthorized("Unauthorized")
        request[USER] = "system:admin"
        return await handler(request)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def version(request: web.Request) -> web.Response:
        return _json({"major": "1", "minor": "32",
                      "gitVersion": f"v1.32.0+shoal.{shoal.__version__}",
                      "gitCommit": "", "gitTreeState": "clean", "buildDate": "",
                      "goVersion": "", "compiler": "shoal", "platform": "python"})

    async def api_root(request: web.Request) -> web.Response:
        if discovery.wants_aggregated(request.headers.get("Accept", "")):
            return _json(discovery.aggregated(catalog, legacy=True),
                         discovery.AGGREGATED_CONTENT_TYPE)
        return _json(discovery.api_versions(request.host))

    async def apis_root(request: web.Request) -> web.Response:
        if discovery.wants_aggregated(request.headers.get("Accept", "")):
            return _json(discovery.aggregated(catalog, legacy=False),
                         discovery.AGGREGATED_CONTENT_TYPE)
        return _json(discovery.api_group_list(catalog))

    async def openapi_v2(request: web.Request) -> web.Response:
        if "protobuf" in request.headers.get("Accept", ""):
            return _json(openapi.v2_protobuf(catalog), openapi_pb.CONTENT_TYPE)
        return _json(openapi.v2_document(catalog))

    async def openapi_v3(request: web.Request) -> web.Response:
        path = request.match_info.get("path", "")
        if not path:
            return _json(openapi.v3_index(catalog))
        parts = path.split("/")
        group, version = ("", parts[1]) if parts[0] == "api" and len(parts) == 2 else (
            (parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else ("", ""))
        doc = openapi.v3_document(catalog, group, version) if version else None
        if doc is None:
            raise NotFound(f"the server could not find the OpenAPI document {path}")
        return _json(doc)

    async def core(request: web.Request) -> web.StreamResponse:
        parts = request.match_info["rest"].split("/")
        if parts == ["v1"] or parts == ["v1", ""]:
            return _json(discovery.resource_list(catalog, "", "v1"))
        if parts[0] != "v1":
            raise NotFound("the server could not find the requested resource")
        return await resources.handle(request, resolve(catalog, "", "v1", parts[1:]))

    async def groups(request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.match_info["rest"].split("/")]
        if parts and parts[-1] == "":
            parts.pop()
        if len(parts) == 1:
            group = discovery.api_group(catalog, parts[0])
            if group is None:
                raise NotFound("the server could not find the requested resource")
            return _json(group)
        if len(parts) == 2:
            listing = discovery.resource_list(catalog, parts[0], parts[1])
            if listing is None:
                raise NotFound("the server could not find the requested resource")
            return _json(listing)
        return await resources.handle(request, resolve(catalog, parts[0], parts[1], parts[2:]))

    app = web.Application(middlewares=[errors, authenticate], client_max_size=max_body)
    app.router.add_get("/healthz", health)
    app.router.add_get("/livez", health)
    app.router.add_get("/readyz", health)
    app.router.add_get("/version", version)
    app.router.add_get("/api", api_root)
    app.router.add_get("/api/", api_root)
    app.router.add_get("/apis", apis_root)
    app.router.add_get("/apis/", apis_root)
    app.router.add_get("/openapi/v2", openapi_v2)
    app.router.add_get("/openapi/v3", openapi_v3)
    app.router.add_get("/openapi/v3/{path:.*}", openapi_v3)
    app.router.add_route("*", "/api/{rest:.+}", core)
    app.router.add_route("*", "/apis/{rest:.+}", groups)
    app.router.add_get("/logs/{namespace}/{revision}",
                       log_handler(registry, logs if logs is not None else LogSources()))
    return app


class ApiServer:
    """The API server bound to a host and port; ``port=0`` picks a free one."""

    def __init__(self, registry: Registry, host: str = "127.0.0.1", port: int = 0, *,
                 token: str | None = None, max_body: int = DEFAULT_MAX_BODY,
                 bookmark_interval: float = 60.0) -> None:
        self.logs = LogSources()
        self.app = build_app(registry, token=token, max_body=max_body,
                             bookmark_interval=bookmark_interval, logs=self.logs)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        if server is not None and self.port == 0:
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
