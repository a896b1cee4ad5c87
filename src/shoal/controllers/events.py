"""Kubernetes Events about objects, as ``kubectl describe`` shows them.

Reconcilers (and the engine, on failures) call ``EventRecorder.normal`` / ``.warning`` to
leave a core/v1 Event on the object they work on. As client-go's event correlator, a repeat
of the same event (same object, type, reason and message) within ``window`` seconds does
not create a new Event: the existing one gets ``count`` + 1 and a new ``lastTimestamp``.

Recording never fails the caller: a failed write is logged and dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from shoal.api.catalog import default_catalog
from shoal.api.errors import AlreadyExists, NotFound
from shoal.api.model import KObject
from shoal.api.types import ResourceType
from shoal.client.base import Client
from shoal.controllers.cache import Obj
from shoal.controllers.clock import Clock, SystemClock, rfc3339

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
NORMAL: EventType = "Normal"
WARNING: EventType = "Warning"


def events_resource() -> ResourceType:
    rt = default_catalog().by_kind("v1", "Event")
    assert rt is not None, "the catalog serves core/v1 Event"
    return rt


def object_reference(obj: Obj | KObject) -> dict[str, str]:
    """The ``involvedObject`` of an event about ``obj``."""
    data: dict[str, Any] = obj.dump() if isinstance(obj, KObject) else obj
    meta = data.get("metadata") or {}
    ref = {
        "apiVersion": data.get("apiVersion"),
        "kind": data.get("kind"),
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {k: str(v) for k, v in ref.items() if v}


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    last_seen: float


class EventRecorder:
    def __init__(
        self,
        client: Client,
        component: str,
        *,
        clock: Clock | None = None,
        window: float = 600.0,
        max_entries: int = 4096,
        host: str = "",
    ) -> None:
        self.client = client
        self.component = component
        self.clock: Clock = clock or SystemClock()
        self.window = window
        self.max_entries = max_entries
        self.host = host
        self.rt = events_resource()
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._lock = asyncio.Lock()
        self._last_nanos = 0

    async def normal(self, obj: Obj | KObject, reason: str, message: str) -> None:
        await self.event(obj, NORMAL, reason, message)

    async def warning(self, obj: Obj | KObject, reason: str, message: str) -> None:
        await self.event(obj, WARNING, reason, message)

    async def event(self, obj: Obj | KObject, type: EventType, reason: str, message: str) -> None:
        """Record an event about ``obj``; a failure to write it is logged, not raised."""
        ref = object_reference(obj)
        key = (
            *(ref.get(f, "") for f in ("apiVersion", "kind", "namespace", "name", "uid")),
            type,
            reason,
            message,
        )
        async with self._lock:
            try:
                if await self._bump(key, message):
                    return
                await self._create(key, ref, type, reason, message)
            except Exception as err:
                log.warning(
                    "could not record event %s %s on %s/%s: %s",
                    type,
                    reason,
                    ref.get("namespace", ""),
                    ref.get("name", ""),
                    err,
                )

    async def _bump(self, key: tuple[str, ...], message: str) -> bool:
        seen = self._seen.get(key)
        now = self.clock.monotonic()
        if seen is None or now - seen.last_seen > self.window:
            return False
        patch = {
            "count": seen.count + 1,
            "lastTimestamp": rfc3339(self.clock.now()),
            "message": message,
        }
        try:
            await self.client.patch(self.rt, seen.name, seen.namespace, patch, "merge")
        except NotFound:
            del self._seen[key]
            return False
        seen.count += 1
        seen.last_seen = now
        self._seen.move_to_end(key)
        return True

    async def _create(
        self, key: tuple[str, ...], ref: dict[str, str], type: EventType, reason: str, message: str
    ) -> None:
        namespace = ref.get("namespace") or "default"
        stamp = rfc3339(self.clock.now())
        source = {"component": self.component, **({"host": self.host} if self.host else {})}
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"namespace": namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": type,
            "source": source,
            "reportingComponent": self.component,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        for _ in range(3):
            name = f"{ref.get('name', 'event')}.{self._nanos():x}"
            body["metadata"]["name"] = name
            try:
                await self.client.create(self.rt, body)
                break
            except AlreadyExists:
                continue
        else:
            raise AlreadyExists(f"no free event name for {ref.get('name')}")
        self._seen[key] = _Seen(name, namespace, 1, self.clock.monotonic())
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)

    def _nanos(self) -> int:
        """Nanoseconds since the epoch, strictly increasing (event names must be unique)."""
        nanos = max(int(self.clock.now().timestamp() * 1e9), self._last_nanos + 1)
        self._last_nanos = nanos
        return nanos
