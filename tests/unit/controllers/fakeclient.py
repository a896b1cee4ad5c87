"""An in-memory ``Client`` for the controller engine's unit tests.

It keeps what the engine relies on: a resourceVersion counter shared by all objects,
optimistic concurrency (Conflict on a stale resourceVersion, also in merge patches),
generation bumped on spec changes, status written only through ``update_status`` (or a
``status`` patch), finalizers holding back deletion, background cascading deletion by
ownerReferences, and watches fed from a change log that can be compacted (a watch from a
resourceVersion older than the horizon raises ``Gone``).

Test hooks: ``calls`` counts calls per method, ``fail(method, error)`` makes the next call
raise, ``break_watches()`` ends every open watch stream, ``send_bookmark()`` / ``send()`` put
a BOOKMARK or any event on the open watches,
``compact()`` forgets the log.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shoal.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    NotFound,
    UnsupportedMediaType,
)
from shoal.api.types import ResourceType
from shoal.client.base import (
    FieldValidation,
    Obj,
    ObjectList,
    PatchType,
    Propagation,
    WatchEvent,
)
from shoal.controllers.clock import Clock, rfc3339

Key = tuple[str, str, str]  # (resource key, namespace, name)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def matches_labels(obj: Obj, selector: str) -> bool:
    """Equality-based selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = (s.strip() for s in term.split("!=", 1))
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(k) != v:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class _Watcher:
    resource: str
    namespace: str | None
    selector: str
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)

    def wants(self, resource: str, obj: Obj) -> bool:
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        return (
            resource == self.resource
            and (self.namespace is None or self.namespace == ns)
            and matches_labels(obj, self.selector)
        )


class FakeClient:
    def __init__(self, *, clock: Clock | None = None, log_limit: int | None = None) -> None:
        self.clock = clock
        self.log_limit = log_limit
        self.calls: Counter[str] = Counter()
        self._objects: dict[Key, Obj] = {}
        self._rv = 0
        self._horizon = 0  # watches from a resourceVersion below this get Gone
        self._log: list[tuple[int, str, WatchEvent]] = []
        self._watchers: list[_Watcher] = []
        self._failures: dict[str, list[Exception]] = defaultdict(list)
        self._types: dict[str, ResourceType] = {}

    # -- test hooks ------------------------------------------------------------------------

    def fail(self, method: str, error: Exception, times: int = 1) -> None:
        self._failures[method].extend([error] * times)

    def break_watches(self) -> None:
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)

    def send_bookmark(self) -> None:
        """Send every open watch a BOOKMARK at the current resourceVersion."""
        self.send(WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": str(self._rv)}}))

    def send(self, event: WatchEvent) -> None:
        """Put ``event`` on every open watch stream (an ERROR event, say)."""
        for watcher in self._watchers:
            watcher.queue.put_nowait(event)

    def compact(self) -> None:
        """Forget the change log: watches from any earlier resourceVersion get Gone."""
        self._log.clear()
        self._horizon = self._rv

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def open_watches(self) -> int:
        return len(self._watchers)

    def stored(self, rt: ResourceType, name: str, namespace: str = "") -> Obj | None:
        """The stored object, without counting a call (for assertions)."""
        obj = self._objects.get(self._key(rt, name, namespace))
        return copy.deepcopy(obj) if obj is not None else None

    # -- internals -------------------------------------------------------------------------

    def _enter(self, method: str) -> None:
        self.calls[method] += 1
        if self._failures[method]:
            raise self._failures[method].pop(0)

    def _key(self, rt: ResourceType, name: str, namespace: str) -> Key:
        return (rt.key, (namespace or "default") if rt.namespaced else "", name)

    def _now(self) -> str:
        return rfc3339(self.clock.now() if self.clock else datetime.now(UTC))

    def _emit(self, rt: ResourceType, type: str, obj: Obj) -> None:
        event = WatchEvent(type, copy.deepcopy(obj))
        self._log.append((self._rv, rt.key, event))
        if self.log_limit is not None and len(self._log) > self.log_limit:
            dropped = self._log[: len(self._log) - self.log_limit]
            self._log = self._log[len(dropped) :]
            self._horizon = dropped[-1][0]
        for watcher in self._watchers:
            if watcher.wants(rt.key, obj):
                watcher.queue.put_nowait(WatchEvent(type, copy.deepcopy(obj)))

    def _bump(self, obj: Obj) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    def _existing(self, rt: ResourceType, name: str, namespace: str) -> Obj:
        obj = self._objects.get(self._key(rt, name, namespace))
        if obj is None:
            raise NotFound(f'{rt.qualified} "{name}" not found')
        return obj

    @staticmethod
    def _check_rv(rt: ResourceType, given: Any, existing: Obj) -> None:
        if given and str(given) != existing["metadata"]["resourceVersion"]:
            raise Conflict(
                f"Operation cannot be fulfilled on {rt.qualified} "
                f'"{existing["metadata"]["name"]}": the object has been modified; please '
                "apply your changes to the latest version and try again"
            )

    def _store(self, rt: ResourceType, existing: Obj, new: Obj) -> Obj:
        """Write ``new`` over ``existing`` (same key): generation, rv, event, finalizers."""
        meta, old_meta = new["metadata"], existing["metadata"]
        for f in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "namespace",
            "name",
        ):
            if f in old_meta:
                meta[f] = old_meta[f]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if new == existing:
            return copy.deepcopy(existing)
        if rt.has_generation:
            spec_keys = set(new) | set(existing)
            spec_keys -= {"metadata", "status", "apiVersion", "kind"}
            if any(new.get(k) != existing.get(k) for k in spec_keys):
                meta["generation"] = int(old_meta.get("generation") or 0) + 1
        key = self._key(rt, meta["name"], meta.get("namespace", ""))
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._objects.pop(key)
            self._bump(new)
            self._emit(rt, "DELETED", new)
            self._cascade(meta.get("uid", ""))
            return copy.deepcopy(new)
        self._bump(new)
        self._objects[key] = new
        self._emit(rt, "MODIFIED", new)
        return copy.deepcopy(new)

    def _cascade(self, uid: str) -> None:
        for key, obj in list(self._objects.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if key in self._objects and any(r.get("uid") == uid for r in refs):
                rt = self._types[key[0]]
                self._delete(rt, obj)

    def _delete(self, rt: ResourceType, existing: Obj) -> Obj:
        meta = existing["metadata"]
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return copy.deepcopy(existing)
            new = copy.deepcopy(existing)
            new["metadata"]["deletionTimestamp"] = self._now()
            self._bump(new)
            self._objects[self._key(rt, meta["name"], meta.get("namespace", ""))] = new
            self._emit(rt, "MODIFIED", new)
            return copy.deepcopy(new)
        self._objects.pop(self._key(rt, meta["name"], meta.get("namespace", "")))
        gone = copy.deepcopy(existing)
        self._bump(gone)
        self._emit(rt, "DELETED", gone)
        self._cascade(meta.get("uid", ""))
        return gone

    # -- the Client protocol ---------------------------------------------------------------

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> Obj:
        self._enter("get")
        return copy.deepcopy(self._existing(rt, name, namespace))

    async def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> ObjectList:
        self._enter("list")
        items = [
            copy.deepcopy(obj)
            for key, obj in sorted(self._objects.items())
            if key[0] == rt.key
            and (namespace is None or key[1] == namespace)
            and matches_labels(obj, label_selector)
        ]
        return ObjectList(items, str(self._rv))

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        timeout_seconds: int | None = None,
    ) -> AsyncIterator[WatchEvent]:
        return self._watch(rt, namespace, resource_version, label_selector, timeout_seconds)

    async def _watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        resource_version: str,
        label_selector: str,
        timeout: int | None,
    ) -> AsyncIterator[WatchEvent]:
        self._enter("watch")
        watcher = _Watcher(rt.key, namespace, label_selector)
        if resource_version:
            since = int(resource_version)
            if since < self._horizon:
                raise Gone(f"too old resource version: {since} ({self._horizon})")
            backlog = [
                ev for rv, res, ev in self._log if rv > since and watcher.wants(res, ev.object)
            ]
        else:
            backlog = [
                WatchEvent("ADDED", copy.deepcopy(obj))
                for key, obj in sorted(self._objects.items())
                if watcher.wants(key[0], obj)
            ]
        self._watchers.append(watcher)
        try:
            for event in backlog:
                yield WatchEvent(event.type, copy.deepcopy(event.object))
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    return
                if item is None:
                    return
                yield item
        finally:
            self._watchers.remove(watcher)

    async def create(
        self,
        rt: ResourceType,
        obj: Obj,
        *,
        dry_run: bool = False,
        field_validation: FieldValidation = "Strict",
    ) -> Obj:
        self._enter("create")
        self._types[rt.key] = rt
        new = copy.deepcopy(obj)
        meta = new.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise BadRequest("name or generateName is required")
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        meta["namespace"] = (meta.get("namespace") or "default") if rt.namespaced else None
        if meta["namespace"] is None:
            del meta["namespace"]
        key = self._key(rt, meta["name"], meta.get("namespace", ""))
        if key in self._objects:
            raise AlreadyExists(f'{rt.qualified} "{meta["name"]}" already exists')
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self._now()
        meta.pop("deletionTimestamp", None)
        if rt.has_generation:
            meta["generation"] = 1
        if rt.status_subresource:
            new.pop("status", None)
        if dry_run:
            return new
        self._bump(new)
        self._objects[key] = new
        self._emit(rt, "ADDED", new)
        return copy.deepcopy(new)

    async def update(
        self,
        rt: ResourceType,
        obj: Obj,
        *,
        dry_run: bool = False,
        field_validation: FieldValidation = "Strict",
    ) -> Obj:
        self._enter("update")
        meta = obj.get("metadata") or {}
        existing = self._existing(rt, meta.get("name", ""), meta.get("namespace", ""))
        self._check_rv(rt, meta.get("resourceVersion"), existing)
        new = copy.deepcopy(obj)
        if rt.status_subresource:
            new.pop("status", None)
            if "status" in existing:
                new["status"] = copy.deepcopy(existing["status"])
        return self._store(rt, existing, new)

    async def update_status(self, rt: ResourceType, obj: Obj) -> Obj:
        self._enter("update_status")
        if not rt.status_subresource:
            raise NotFound(f"{rt.qualified} has no status subresource")
        meta = obj.get("metadata") or {}
        existing = self._existing(rt, meta.get("name", ""), meta.get("namespace", ""))
        self._check_rv(rt, meta.get("resourceVersion"), existing)
        new = copy.deepcopy(existing)
        new["status"] = copy.deepcopy(obj.get("status"))
        if new["status"] is None:
            del new["status"]
        return self._store(rt, existing, new)

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
    ) -> Obj:
        self._enter("patch")
        if patch_type != "merge":
            raise UnsupportedMediaType(f"{patch_type} patches are not supported here")
        existing = self._existing(rt, name, namespace)
        if isinstance(patch, dict):
            self._check_rv(rt, (patch.get("metadata") or {}).get("resourceVersion"), existing)
        new = merge_patch(copy.deepcopy(existing), patch)
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(existing)
            new["status"] = status
        elif rt.status_subresource:
            new.pop("status", None)
            if "status" in existing:
                new["status"] = copy.deepcopy(existing["status"])
        return self._store(rt, existing, new)

    async def delete(
        self,
        rt: ResourceType,
        name: str,
        namespace: str = "",
        *,
        propagation: Propagation = "Background",
        dry_run: bool = False,
    ) -> Obj:
        self._enter("delete")
        return self._delete(rt, self._existing(rt, name, namespace))

    async def close(self) -> None:
        self.break_watches()
