"""HTTP handlers of the resource endpoints: CRUD, patch, watch, tables.

``ResourceHandler`` turns a parsed request path (``Target``) and an aiohttp request into a
registry call and a Kubernetes-shaped response: objects and lists as JSON, ``Table`` when
kubectl asks for one, newline-delimited watch events, ``Warning`` headers for dropped
fields. Errors are raised as ``ApiError`` and rendered by the server's middleware.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from aiohttp import web

from shoal.api.catalog import Catalog
from shoal.api.errors import ApiError, BadRequest, MethodNotAllowed, NotFound, RequestTooLarge
from shoal.api.errors import UnsupportedMediaType as Unsupported
from shoal.api.types import ResourceType
from shoal.apiserver import protobuf, tables
from shoal.apiserver.registry import Registry, Written
from shoal.apiserver.selectors import selector_predicate
from shoal.apiserver.watch import watch

Obj = dict[str, Any]

PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
}


@dataclass(frozen=True)
class Target:
    """What a resource URL names: a type, maybe a namespace, maybe an object, a subresource."""

    rt: ResourceType
    namespace: str | None  # None: every namespace (or a cluster-scoped resource)
    name: str = ""
    subresource: str = ""


def resolve(catalog: Catalog, group: str, version: str, parts: list[str]) -> Target:
    """Parse ``[namespaces/NS/]PLURAL[/NAME[/SUB]]`` after ``/api/v1`` or ``/apis/G/V``."""
    namespace: str | None = None
    if len(parts) >= 3 and parts[0] == "namespaces" and parts[2] not in ("status", "finalize"):
        namespace, parts = parts[1], parts[2:]
    if not parts or len(parts) > 3 or not all(parts):
        raise NotFound("the server could not find the requested resource")
    rt = catalog.lookup(group, version, parts[0])
    if rt is None:
        gv = f"{group}/{version}" if group else version
        raise NotFound(f"the server could not find the requested resource ({gv}, "
                       f"{parts[0]})")
    if namespace is not None and not rt.namespaced:
        raise NotFound(f"the server could not find the requested resource ({rt.plural} is "
                       f"not namespaced)")
    if namespace is None and rt.namespaced and len(parts) > 1:
        raise NotFound("the server could not find the requested resource")
    name = parts[1] if len(parts) > 1 else ""
    sub = parts[2] if len(parts) > 2 else ""
    if sub and not (sub == "status" and rt.status_subresource):
        raise NotFound(f"the server could not find the requested resource "
                       f"({rt.plural}/{sub})")
    return Target(rt, namespace, name, sub)


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join(
            '299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in warnings)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return web.Response(body=data, status=status, content_type="application/json",
                        headers=headers)


def _wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


USER = web.RequestKey("user", str)


def _user(request: web.Request) -> str:
    return str(request.get(USER, "system:admin"))


class ResourceHandler:
    def __init__(self, registry: Registry, *, max_body: int,
                 bookmark_interval: float = 60.0) -> None:
        self.registry = registry
        self.max_body = max_body
        self.bookmark_interval = bookmark_interval

    async def handle(self, request: web.Request, target: Target) -> web.StreamResponse:
        method = request.method
        if not target.name:
            if method == "GET":
                if request.query.get("watch") in ("1", "true", "True"):
                    return await self._watch(request, target)
                return self._list(request, target)
            if method == "POST":
                return await self._create(request, target)
            if method == "DELETE":
                return await self._delete_collection(request, target)
        else:
            if method == "GET":
                obj = self.registry.get(target.rt, target.namespace or "", target.name)
                if _wants_table(request):
                    return _json(self._table(request, target.rt, [obj],
                                             obj["metadata"]["resourceVersion"]))
                return _json(obj)
            if method == "PUT":
                return await self._update(request, target)
            if method == "PATCH":
                return await self._patch(request, target)
            if method == "DELETE" and not target.subresource:
                return await self._delete(request, target)
        raise MethodNotAllowed(f"the server does not allow this method on the requested "
                               f"resource ({method})")

    # -- bodies --------------------------------------------------------------------------

    async def _body(self, request: web.Request, *, patch: bool = False) -> Any:
        if request.content_length is not None and request.content_length > self.max_body:
            raise RequestTooLarge(f"the request body exceeds {self.max_body} bytes")
        raw = bytearray()
        async for chunk in request.content.iter_chunked(65536):
            raw += chunk
            if len(raw) > self.max_body:
                raise RequestTooLarge(f"the request body exceeds {self.max_body} bytes")
        ctype = request.content_type
        if not raw.strip():
            if patch:
                raise BadRequest("the patch is empty")
            return {}
        try:
            if patch or ctype in ("application/json", "application/octet-stream", ""):
                return json.loads(raw)
            if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
                return yaml.safe_load(bytes(raw))
            if ctype == protobuf.CONTENT_TYPE:
                return protobuf.decode(bytes(raw))
        except (json.JSONDecodeError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise BadRequest(f"the request body is not valid "
                             f"{'JSON' if 'json' in ctype or not ctype else 'YAML'}: "
                             f"{exc}") from None
        raise Unsupported(f"the body of the request was in an unknown format ({ctype}) - "
                          f"accepted media types include: application/json, application/yaml")

    @staticmethod
    def _dry_run(request: web.Request, options: Obj | None = None) -> bool:
        values = request.query.getall("dryRun", [])
        if options and isinstance(options.get("dryRun"), list):
            values = [*values, *options["dryRun"]]
        for value in values:
            if value != "All":
                raise BadRequest(f'dryRun: Unsupported value: "{value}": supported values: '
                                 f'"All"')
        return bool(values)

    @staticmethod
    def _field_validation(request: web.Request) -> str:
        mode = request.query.get("fieldValidation", "Warn")
        if mode not in ("Strict", "Warn", "Ignore"):
            raise BadRequest(f'fieldValidation: Unsupported value: "{mode}": supported '
                             f'values: "Ignore", "Strict", "Warn"')
        return mode

    # -- operations ----------------------------------------------------------------------

    def _table(self, request: web.Request, rt: ResourceType, objs: list[Obj],
               rv: str) -> Obj:
        include = request.query.get("includeObject", "Metadata")
        return tables.table(rt, objs, rv, datetime.now(UTC), include)

    def _list(self, request: web.Request, target: Target) -> web.Response:
        rt = target.rt
        labels = request.query.get("labelSelector", "")
        fields = request.query.get("fieldSelector", "")
        if not labels and not fields and not _wants_table(request):
            raw, rv = self.registry.list_raw(rt, target.namespace)
            head = json.dumps({"apiVersion": rt.api_version, "kind": rt.list_kind,
                               "metadata": {"resourceVersion": rv}})
            body = head[:-1].encode() + b',"items":[' + ",".join(raw).encode() + b"]}"
            return _json(body)
        items, rv = self.registry.list(rt, target.namespace, labels, fields)
        if _wants_table(request):
            return _json(self._table(request, rt, items, rv))
        return _json({"apiVersion": rt.api_version, "kind": rt.list_kind,
                      "metadata": {"resourceVersion": rv}, "items": items})

    async def _create(self, request: web.Request, target: Target) -> web.Response:
        if target.rt.namespaced and target.namespace is None:
            raise MethodNotAllowed("create needs a namespace in the path")
        body = await self._body(request)
        written = self.registry.create(
            target.rt, target.namespace or "", body, dry_run=self._dry_run(request),
            field_validation=self._field_validation(request), user=_user(request))
        return self._written(written, 201)

    async def _update(self, request: web.Request, target: Target) -> web.Response:
        body = await self._body(request)
        written = self.registry.update(
            target.rt, target.namespace or "", target.name, body,
            subresource=target.subresource, dry_run=self._dry_run(request),
            field_validation=self._field_validation(request), user=_user(request))
        return self._written(written, 200)

    async def _patch(self, request: web.Request, target: Target) -> web.Response:
        patch_type = PATCH_TYPES.get(request.content_type)
        if patch_type is None:
            raise Unsupported(f"the body of the request was in an unknown format "
                              f"({request.content_type}) - accepted media types include: "
                              f"application/json-patch+json, application/merge-patch+json")
        body = await self._body(request, patch=True)
        written = self.registry.patch(
            target.rt, target.namespace or "", target.name, body, patch_type,
            subresource=target.subresource, dry_run=self._dry_run(request),
            field_validation=self._field_validation(request), user=_user(request))
        return self._written(written, 200)

    def _written(self, written: Written, status: int) -> web.Response:
        return _json(written.object, status, written.warnings)

    async def _delete_options(self, request: web.Request) -> Obj:
        options = await self._body(request) if request.can_read_body else {}
        if not isinstance(options, dict):
            raise BadRequest("DeleteOptions must be an object")
        if "propagationPolicy" in request.query:
            options["propagationPolicy"] = request.query["propagationPolicy"]
        if options.get("orphanDependents") is True and "propagationPolicy" not in options:
            options["propagationPolicy"] = "Orphan"
        return options

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        options = await self._delete_options(request)
        obj = self.registry.delete(
            target.rt, target.namespace or "", target.name,
            propagation=options.get("propagationPolicy") or "Background",
            preconditions=options.get("preconditions"),
            dry_run=self._dry_run(request, options))
        pending = bool(obj["metadata"].get("deletionTimestamp")) and bool(
            obj["metadata"].get("finalizers"))
        return _json(obj, 202 if pending else 200)

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        options = await self._delete_options(request)
        deleted = self.registry.delete_collection(
            target.rt, target.namespace, label_selector=request.query.get("labelSelector", ""),
            field_selector=request.query.get("fieldSelector", ""),
            propagation=options.get("propagationPolicy") or "Background",
            dry_run=self._dry_run(request, options))
        return _json({"apiVersion": target.rt.api_version, "kind": target.rt.list_kind,
                      "metadata": {}, "items": deleted})

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        rt = target.rt
        predicate = selector_predicate(request.query.get("labelSelector", ""),
                                       request.query.get("fieldSelector", ""))
        timeout = request.query.get("timeoutSeconds")
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
        as_table = _wants_table(request)
        include = request.query.get("includeObject", "Metadata")
        stream = watch(self.registry.store, rt, target.namespace,
                       request.query.get("resourceVersion", ""), predicate,
                       bookmark_interval=self.bookmark_interval if bookmarks else None,
                       timeout=float(timeout) if timeout else None)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        first = True
        try:
            async with contextlib.aclosing(stream):
                async for kind, obj in stream:
                    if as_table and kind != "BOOKMARK":
                        obj = tables.table(rt, [obj],
                                           obj["metadata"].get("resourceVersion", ""),
                                           datetime.now(UTC), include, with_columns=first)
                        first = False
                    line = json.dumps({"type": kind, "object": obj}) + "\n"
                    await response.write(line.encode())
        except ApiError as exc:
            line = json.dumps({"type": "ERROR", "object": exc.status()}) + "\n"
            await response.write(line.encode())
        except (ConnectionResetError, BrokenPipeError):
            return response
        await response.write_eof()
        return response
