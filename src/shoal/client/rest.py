"""``RestClient``: the ``Client`` interface over Kubernetes REST, with aiohttp.

The CLI talks to a Shoal API server through it, and controllers use it to run against any
Kubernetes-style API server. Paths follow Kubernetes (``/api/v1/...`` for the core group,
``/apis/G/V/[namespaces/NS/]PLURAL[/NAME[/status]]``); every answer outside 2xx becomes
the ``shoal.api.errors`` exception its ``Status`` body names; a server that cannot be
reached, does not answer in time or drops the connection raises ``ServerUnreachable``.
``Warning`` response headers go to ``on_warning``.

Watches read the newline-delimited event stream in chunks and split lines themselves, so an
event of any size (a big ConfigMap) is read whole. An ``ERROR`` event raises the error its
``Status`` carries (``Gone`` for 410: relist and watch again).
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from shoal.api.errors import ApiError
from shoal.api.types import ResourceType
from shoal.client.base import (
    PATCH_CONTENT_TYPES,
    FieldValidation,
    Obj,
    ObjectList,
    PatchType,
    Propagation,
    WatchEvent,
)

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
DEFAULT_NAMESPACE = "default"
LARGE_BODY = 512 * 1024
WarningHandler = Callable[[str], None]


class ServerUnreachable(ApiError):
    """No connection to the API server (refused, unresolvable, reset before an answer)."""

    code = 503
    reason = "ServiceUnavailable"


def parse_warnings(values: list[str]) -> list[str]:
    """The texts of ``Warning`` headers (``299 - "text"``, several joined by commas)."""
    out: list[str] = []
    for value in values:
        pos = 0
        while pos < len(value):
            start = value.find('"', pos)
            if start < 0:
                break
            i, text = start + 1, []
            while i < len(value) and value[i] != '"':
                if value[i] == "\\" and i + 1 < len(value):
                    i += 1
                text.append(value[i])
                i += 1
            out.append("".join(text))
            pos = i + 1
    return out


def _ignore_warning(message: str) -> None:
    return None


class RestClient:
    """A ``Client`` speaking HTTP to ``server`` (``http://127.0.0.1:8090``)."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        on_warning: WarningHandler | None = None,
        request_timeout: float = 60.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.on_warning = on_warning or _ignore_warning
        self.request_timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"User-Agent": "shoal"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=None)
            )
        return self._session

    # -- paths ---------------------------------------------------------------------------

    @staticmethod
    def path(rt: ResourceType, namespace: str | None, name: str = "", subresource: str = "") -> str:
        """The URL path of a resource, one namespace's collection, or one object."""
        base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
        parts = [base]
        if rt.namespaced and namespace is not None:
            parts.append(f"namespaces/{quote(namespace or DEFAULT_NAMESPACE, safe='')}")
        parts.append(rt.plural)
        if name:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    @staticmethod
    def _namespace_of(rt: ResourceType, obj: Obj) -> str | None:
        if not rt.namespaced:
            return None
        meta = obj.get("metadata") or {}
        return str(meta.get("namespace") or DEFAULT_NAMESPACE)

    def _object_path(self, rt: ResourceType, obj: Obj, subresource: str = "") -> str:
        """The URL path of ``obj`` itself, from its metadata."""
        name = str((obj.get("metadata") or {}).get("name", ""))
        return self.path(rt, self._namespace_of(rt, obj), name, subresource)

    # -- requests ------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """One HTTP call; the decoded JSON answer, or the ``ApiError`` of a failure."""
        answer, warnings = await self._call(method, path, params, body, content_type, accept)
        for text in warnings:
            self.on_warning(text)
        return answer

    async def _call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: Any,
        content_type: str,
        accept: str,
    ) -> tuple[Any, list[str]]:
        headers = {"Accept": accept}
        data: bytes | io.BytesIO | None = None
        if body is not None:
            data = json.dumps(body).encode()
            if len(data) > LARGE_BODY:  # aiohttp streams a file-like body in pieces
                data = io.BytesIO(data)
            headers["Content-Type"] = content_type
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        try:
            async with self._http().request(
                method,
                self.server + path,
                params=params,
                data=data,
                headers=headers,
                timeout=timeout,
            ) as resp:
                raw = await resp.read()
                warnings = parse_warnings(resp.headers.getall("Warning", []))
                if resp.status >= 300:
                    for text in warnings:
                        self.on_warning(text)
                    raise _error(resp.status, resp.reason, raw)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise self._unreachable(exc) from None
        return (json.loads(raw) if raw.strip() else {}), warnings

    def _warn(self, resp: aiohttp.ClientResponse) -> None:
        for text in parse_warnings(resp.headers.getall("Warning", [])):
            self.on_warning(text)

    def _unreachable(self, exc: Exception) -> ServerUnreachable:
        host = self.server.split("://", 1)[-1]
        if isinstance(exc, aiohttp.ClientConnectorError):
            return ServerUnreachable(
                f"The connection to the server {host} was refused - did "
                f"you specify the right host or port?"
            )
        if isinstance(exc, TimeoutError):
            return ServerUnreachable(
                f"the server {host} did not answer within {self.request_timeout:g}s"
            )
        return ServerUnreachable(
            f"error talking to the server {host}: {str(exc) or type(exc).__name__}"
        )

    # -- the Client interface -------------------------------------------------------------

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> Obj:
        obj: Obj = await self.request("GET", self.path(rt, namespace, name))
        return obj

    async def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> ObjectList:
        body, warnings = await self._call(
            "GET",
            self.path(rt, namespace),
            _selectors(label_selector, field_selector),
            None,
            "application/json",
            "application/json",
        )
        for text in warnings:
            self.on_warning(text)
        meta = body.get("metadata") or {}
        return ObjectList(
            list(body.get("items") or []), str(meta.get("resourceVersion", "")), warnings
        )

    async def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        timeout_seconds: int | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Events after ``resource_version`` (all current objects as ADDED when empty)."""
        params = _watch_params(resource_version, label_selector, field_selector, timeout_seconds)
        async for event in self._stream(self.path(rt, namespace), params, "application/json"):
            yield event

    async def watch_table(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        timeout_seconds: int | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Like ``watch``, but each event's object is a one-row ``Table`` (for ``get -w``).

        The first event's table carries the column definitions; later ones may not.
        """
        params = _watch_params(resource_version, label_selector, field_selector, timeout_seconds)
        async for event in self._stream(self.path(rt, namespace), params, TABLE_ACCEPT):
            yield event

    async def _stream(
        self, path: str, params: dict[str, str], accept: str
    ) -> AsyncIterator[WatchEvent]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.request_timeout)
        try:
            async with self._http().get(
                self.server + path, params=params, timeout=timeout, headers={"Accept": accept}
            ) as resp:
                self._warn(resp)
                if resp.status >= 300:
                    raise _error(resp.status, resp.reason, await resp.read())
                pending = bytearray()
                async for chunk in resp.content.iter_any():
                    start = 0
                    while (end := chunk.find(b"\n", start)) >= 0:
                        pending += chunk[start:end]
                        if pending.strip():
                            yield _event(bytes(pending))
                        pending.clear()
                        start = end + 1
                    pending += chunk[start:]
                if pending.strip():
                    yield _event(bytes(pending))
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise self._unreachable(exc) from None

    async def create(
        self,
        rt: ResourceType,
        obj: Obj,
        *,
        dry_run: bool = False,
        field_validation: FieldValidation = "Strict",
    ) -> Obj:
        created: Obj = await self.request(
            "POST",
            self.path(rt, self._namespace_of(rt, obj)),
            body=obj,
            params=_write_params(dry_run, field_validation),
        )
        return created

    async def update(
        self,
        rt: ResourceType,
        obj: Obj,
        *,
        dry_run: bool = False,
        field_validation: FieldValidation = "Strict",
    ) -> Obj:
        updated: Obj = await self.request(
            "PUT",
            self._object_path(rt, obj),
            body=obj,
            params=_write_params(dry_run, field_validation),
        )
        return updated

    async def update_status(self, rt: ResourceType, obj: Obj) -> Obj:
        updated: Obj = await self.request("PUT", self._object_path(rt, obj, "status"), body=obj)
        return updated

    async def patch(
        self,
        rt: ResourceType,
        name: str,
        namespace: str,
        patch: Any,
        patch_type: PatchType = "merge",
        *,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: FieldValidation | None = None,
    ) -> Obj:
        """``field_validation`` (beyond ``Client``) is left to the server's default if None."""
        patched: Obj = await self.request(
            "PATCH",
            self.path(rt, namespace, name, subresource),
            body=patch,
            content_type=PATCH_CONTENT_TYPES[patch_type],
            params=_write_params(dry_run, field_validation),
        )
        return patched

    async def delete(
        self,
        rt: ResourceType,
        name: str,
        namespace: str = "",
        *,
        propagation: Propagation = "Background",
        dry_run: bool = False,
    ) -> Obj:
        options: Obj = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if dry_run:
            options["dryRun"] = ["All"]
        deleted: Obj = await self.request("DELETE", self.path(rt, namespace, name), body=options)
        return deleted

    # -- beyond the interface: what the CLI shows -----------------------------------------

    async def table(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> Obj:
        """The server's ``meta.k8s.io/v1`` Table of one object or a (filtered) list."""
        params = None if name else _selectors(label_selector, field_selector)
        table: Obj = await self.request(
            "GET", self.path(rt, namespace, name or ""), params=params, accept=TABLE_ACCEPT
        )
        return table


def _selectors(label_selector: str, field_selector: str) -> dict[str, str]:
    params = {}
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    return params


def _watch_params(
    resource_version: str, label_selector: str, field_selector: str, timeout_seconds: int | None
) -> dict[str, str]:
    params = {
        "watch": "true",
        "allowWatchBookmarks": "true",
        **_selectors(label_selector, field_selector),
    }
    if resource_version:
        params["resourceVersion"] = resource_version
    if timeout_seconds is not None:
        params["timeoutSeconds"] = str(timeout_seconds)
    return params


def _write_params(dry_run: bool, field_validation: FieldValidation | None) -> dict[str, str]:
    """The query of a write; no ``fieldValidation`` leaves it to the server's default."""
    params: dict[str, str] = {}
    if field_validation:
        params["fieldValidation"] = field_validation
    if dry_run:
        params["dryRun"] = "All"
    return params


def _error(status: int, reason: str | None, raw: bytes) -> ApiError:
    """The ``ApiError`` of a failed answer, from its ``Status`` body when it has one."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        return ApiError.from_status(body, status)
    text = raw.decode(errors="replace").strip() or reason or f"HTTP {status}"
    return ApiError.from_status({"message": text, "code": status}, status)


def _event(line: bytes) -> WatchEvent:
    try:
        body = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(f"malformed watch event: {exc}") from None
    kind = str(body.get("type", ""))
    obj = body.get("object") or {}
    if kind == "ERROR":
        raise ApiError.from_status(obj, int(obj.get("code") or 500))
    return WatchEvent(kind, obj)
