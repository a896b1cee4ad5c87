"""ApiServerSource: changes to objects of Shoal's own API, sent as CloudEvents.

An ``ApiServerAdapter`` runs per source, in-process: an ``Informer`` (list, then watch;
relist on 410) per listed resource in the source's namespace, narrowed by the resource's
label selector and the ``owner`` filter. As Knative's adapter, which hands the reflector a
store whose ``Replace`` does nothing, the objects found by the first list are not sent:
events start with the changes after it. Each add, update and delete becomes an event
(``make_event``), sent in order by one task per source with the adapter retries:

- mode ``Reference``: type ``dev.knative.apiserver.ref.{add,update,delete}``, data
  ``{apiVersion, kind, name, namespace}``;
- mode ``Resource``: type ``dev.knative.apiserver.resource.{add,update,delete}``, data the
  object;
- ``source`` the API server's URL, ``subject`` ``/apis/<apiVersion>/namespaces/<ns>/
  <plural>/<name>`` (Knative writes ``/apis/v1/...`` for core kinds too), extensions
  ``kind``, ``name`` and ``namespace``, then the ``ceOverrides`` extensions.

``ApiServerSourceReconciler`` resolves the sink, starts, replaces or stops the adapter and
reports Knative's conditions (``SinkProvided``, ``Deployed``, ``SufficientPermissions``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.sources.apiserver import REFERENCE_MODE, ApiServerSource, ApiServerSourceStatus
from shoal.api.sources.base import CloudEventAttributes
from shoal.api.types import ResourceType
from shoal.client.base import Client
from shoal.controllers.clock import Clock
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.informer import Informer, InformerEvent
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult
from shoal.controllers.resolver import DestinationResolver
from shoal.controllers.tracker import Tracker
from shoal.eventing.event import CloudEvent
from shoal.sources.base import SINK_PROVIDED, new_event, resolve_sink, sink_watches
from shoal.sources.selectors import selector_string

log = logging.getLogger("shoal.sources.apiserver")

DEPLOYED = "Deployed"
SUFFICIENT_PERMISSIONS = "SufficientPermissions"
APISERVER_CONDITIONS = ConditionSet("Ready", [SINK_PROVIDED, DEPLOYED, SUFFICIENT_PERMISSIONS])
VERBS = {"ADDED": "add", "MODIFIED": "update", "DELETED": "delete"}
QUEUE_LIMIT = 10_000  # events waiting to be sent per source; past it the oldest are dropped

Send = Callable[[CloudEvent, str], Awaitable[object]]


def event_type(mode: str, verb: str) -> str:
    return f"dev.knative.apiserver.{'ref' if mode == REFERENCE_MODE else 'resource'}.{verb}"


def subject(obj: dict[str, Any], rt: ResourceType) -> str:
    meta = obj.get("metadata") or {}
    return (f"/apis/{rt.api_version}/namespaces/{meta.get('namespace', '')}/{rt.plural}/"
            f"{meta.get('name', '')}")


def make_event(obj: dict[str, Any], rt: ResourceType, verb: str, mode: str, source: str,
               clock: Clock, overrides: dict[str, str] | None = None) -> CloudEvent:
    """The event for one change of ``obj`` (an object of ``rt``)."""
    meta = obj.get("metadata") or {}
    full = {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    if mode == REFERENCE_MODE:
        data: dict[str, Any] = {"apiVersion": full["apiVersion"], "kind": full["kind"],
                                "name": name, "namespace": namespace}
    else:
        data = full
    event = new_event(event_type(mode, verb), source, clock, subject=subject(obj, rt),
                      datacontenttype="application/json", kind=rt.kind, name=name,
                      namespace=namespace)
    event.attributes.update(overrides or {})
    event.data = json.dumps(data, separators=(",", ":")).encode()
    return event


@dataclass(frozen=True)
class Watched:
    rt: ResourceType
    label_selector: str


@dataclass(frozen=True)
class ApiServerPlan:
    """What one ApiServerSource watches and where its events go."""

    namespace: str
    resources: tuple[Watched, ...]
    owner: tuple[str, str] | None  # (apiVersion, kind)
    mode: str
    sink: str
    overrides: tuple[tuple[str, str], ...]


def _owned_by(obj: dict[str, Any], owner: tuple[str, str]) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any((ref.get("apiVersion"), ref.get("kind")) == owner for ref in refs)


class ApiServerAdapter:
    """The watches and the sender of one ApiServerSource."""

    def __init__(self, key: str, plan: ApiServerPlan, client: Client, source: str,
                 clock: Clock, send: Send) -> None:
        self.key = key
        self.plan = plan
        self.source = source
        self.clock = clock
        self.send = send
        self.informers = [Informer(client, w.rt, plan.namespace, w.label_selector,
                                   resync_period=None, clock=clock) for w in plan.resources]
        self._queue: asyncio.Queue[CloudEvent] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for informer in self.informers:
            informer.add_handler(self._handler(informer))
            informer.start()
        self._tasks.append(asyncio.create_task(self._sender(), name=f"apiserversource {self.key}"))

    def _handler(self, informer: Informer) -> Callable[[InformerEvent], None]:
        """Queues an event per change; the first list (dispatched before the informer
        reports synced to anyone awaiting it) is skipped, as Knative's adapter skips it."""
        primed = False

        async def prime() -> None:
            nonlocal primed
            await informer.wait_synced()
            primed = True

        self._tasks.append(asyncio.create_task(prime()))

        def handle(event: InformerEvent) -> None:
            verb = VERBS.get(event.type)
            if primed and verb is not None:
                self._on_change(informer.rt, verb, event.obj)

        return handle

    def _on_change(self, rt: ResourceType, verb: str, obj: dict[str, Any]) -> None:
        if self.plan.owner is not None and not _owned_by(obj, self.plan.owner):
            return
        if self._queue.qsize() >= QUEUE_LIMIT:
            dropped = self._queue.get_nowait()
            log.warning("ApiServerSource %s: sink too slow, dropped event %s", self.key,
                        dropped.id)
        self._queue.put_nowait(make_event(obj, rt, verb, self.plan.mode, self.source,
                                          self.clock, dict(self.plan.overrides)))

    async def _sender(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self.send(event, self.plan.sink)
            except Exception:  # the edge of one event: log it and go on with the next
                log.exception("ApiServerSource %s: sending event %s failed", self.key, event.id)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for informer in self.informers:
            await informer.stop()


class ApiServerAdapters:
    """The running adapters, one per ApiServerSource key."""

    def __init__(self, client: Client, source: str, clock: Clock, send: Send) -> None:
        self.client = client
        self.source = source
        self.clock = clock
        self.send = send
        self._adapters: dict[str, ApiServerAdapter] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._adapters

    async def set(self, key: str, plan: ApiServerPlan) -> None:
        current = self._adapters.get(key)
        if current is not None and current.plan == plan:
            return
        await self.remove(key)
        adapter = ApiServerAdapter(key, plan, self.client, self.source, self.clock, self.send)
        self._adapters[key] = adapter
        adapter.start()

    async def remove(self, key: str) -> None:
        adapter = self._adapters.pop(key, None)
        if adapter is not None:
            await adapter.stop()

    async def close(self) -> None:
        for key in list(self._adapters):
            with contextlib.suppress(Exception):
                await self.remove(key)


class ApiServerSourceReconciler(ModelReconciler[ApiServerSource]):
    rt = default_catalog().require("apiserversources")

    def __init__(self, adapters: ApiServerAdapters, resolver: DestinationResolver,
                 tracker: Tracker) -> None:
        self.adapters = adapters
        self.resolver = resolver
        self.tracker = tracker
        self.watches = sink_watches(tracker)

    async def reconcile(self, obj: ApiServerSource) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        spec = obj.spec
        status = obj.status = obj.status or ApiServerSourceStatus()
        conditions = APISERVER_CONDITIONS.manage(status)
        conditions.initialize()
        mode = spec.mode or REFERENCE_MODE
        status.ce_attributes = [CloudEventAttributes(type=event_type(mode, verb),
                                                     source=self.adapters.source)
                                for verb in ("add", "delete", "update")]
        status.namespaces = [obj.namespace]
        watched: list[Watched] = []
        catalog = default_catalog()
        for i, res in enumerate(spec.resources or []):
            rt = catalog.by_kind(res.api_version or "", res.kind or "")
            if rt is None:
                await self.adapters.remove(key)
                conditions.mark_false(SUFFICIENT_PERMISSIONS, "ResourceNotFound",
                                      f"spec.resources[{i}]: {res.kind} ({res.api_version}) "
                                      "is not a kind this server serves")
                return None
            watched.append(Watched(rt, selector_string(res.selector)))
        conditions.mark_true(SUFFICIENT_PERMISSIONS)
        sink = await resolve_sink(self.resolver, spec, obj.namespace, key, status, conditions)
        if sink is None:
            await self.adapters.remove(key)
            return ReconcileResult(requeue_after=10)
        owner = spec.owner
        overrides = spec.ce_overrides.extensions if spec.ce_overrides else None
        await self.adapters.set(key, ApiServerPlan(
            namespace=obj.namespace, resources=tuple(watched),
            owner=(owner.api_version or "", owner.kind or "") if owner else None, mode=mode,
            sink=sink, overrides=tuple(sorted((overrides or {}).items()))))
        conditions.mark_true(DEPLOYED)
        return None

    async def deleted(self, key: str) -> None:
        await self.adapters.remove(key)
        self.tracker.forget(key)
