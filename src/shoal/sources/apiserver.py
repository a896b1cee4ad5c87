"""ApiServerSource: changes to objects of Shoal's own API, sent as CloudEvents.

An ``ApiServerAdapter`` runs per source, in-process: an ``Informer`` (list, then watch;
relist on 410) per listed resource in the source's namespace (or, with a
``namespaceSelector``, in the namespaces whose labels match it, followed as namespaces
come, go and change labels), narrowed by the resource's label selector and the ``owner``
filter, and by ``spec.filters`` (Subscriptions API filters, as a Trigger's, when the
``new-apiserversource-filters`` feature admits them). As Knative's adapter, which hands
the reflector a store whose ``Replace`` does nothing, the objects found by the first list
are not sent: events start with the changes after it. Each add, update and delete becomes an event
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
from shoal.controllers.cache import make_key
from shoal.controllers.clock import Clock
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.factory import InformerFactory
from shoal.controllers.informer import Informer, InformerEvent
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch
from shoal.controllers.resolver import DestinationResolver
from shoal.controllers.tracker import Tracker
from shoal.eventing.event import CloudEvent
from shoal.eventing.filters import compile_filters
from shoal.sources.base import SINK_PROVIDED, new_event, resolve_sink, sink_watches
from shoal.sources.selectors import selector_string

log = logging.getLogger("shoal.sources.apiserver")

APISERVERSOURCES = default_catalog().require("apiserversources")
NAMESPACES = default_catalog().require("namespaces")

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
    """What one ApiServerSource watches and where its events go. ``namespaces`` None means
    the source's own ``namespace``; else the namespaces its ``namespaceSelector`` picked."""

    namespace: str
    resources: tuple[Watched, ...]
    owner: tuple[str, str] | None  # (apiVersion, kind)
    mode: str
    sink: str
    overrides: tuple[tuple[str, str], ...]
    namespaces: frozenset[str] | None = None
    filters: str = "[]"  # spec.filters as JSON (Subscriptions API filters)


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
        where = plan.namespace if plan.namespaces is None else None  # None: every namespace
        self.informers = [Informer(client, w.rt, where, w.label_selector,
                                   resync_period=None, clock=clock) for w in plan.resources]
        self.matches = compile_filters(json.loads(plan.filters))
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
        namespace = (obj.get("metadata") or {}).get("namespace")
        if self.plan.namespaces is not None and namespace not in self.plan.namespaces:
            return
        event = make_event(obj, rt, verb, self.plan.mode, self.source, self.clock,
                           dict(self.plan.overrides))
        if not self.matches(event):
            return
        if self._queue.qsize() >= QUEUE_LIMIT:
            dropped = self._queue.get_nowait()
            log.warning("ApiServerSource %s: sink too slow, dropped event %s", self.key,
                        dropped.id)
        self._queue.put_nowait(event)

    async def synced(self) -> None:
        """Return once every first list is in: changes from now on are sent."""
        for informer in self.informers:
            await informer.wait_synced()
        await asyncio.sleep(0)  # the priming tasks woke first; let them finish

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

    def get(self, key: str) -> ApiServerAdapter | None:
        return self._adapters.get(key)

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
    rt = APISERVERSOURCES

    def __init__(self, adapters: ApiServerAdapters, informers: InformerFactory,
                 resolver: DestinationResolver, tracker: Tracker) -> None:
        self.adapters = adapters
        self.sources = informers.informer(APISERVERSOURCES)
        self.resolver = resolver
        self.tracker = tracker
        self.watches = (*sink_watches(tracker), Watch(NAMESPACES, self._selecting))

    def _selecting(self, namespace: dict[str, Any]) -> list[str]:
        """A namespace changed: the sources with a namespace selector look again."""
        return [make_key(s["metadata"].get("namespace", ""), s["metadata"]["name"])
                for s in self.sources.list() if (s.get("spec") or {}).get("namespaceSelector")
                is not None]

    async def _namespaces(self, obj: ApiServerSource) -> frozenset[str] | None:
        if obj.spec.namespace_selector is None:
            return None
        found = await self.adapters.client.list(
            NAMESPACES, label_selector=selector_string(obj.spec.namespace_selector))
        return frozenset(str(n["metadata"]["name"]) for n in found.items)

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
        namespaces = await self._namespaces(obj)
        status.namespaces = sorted(namespaces) if namespaces is not None else [obj.namespace]
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
            sink=sink, overrides=tuple(sorted((overrides or {}).items())), namespaces=namespaces,
            filters=json.dumps([f.dump() for f in spec.filters or []], sort_keys=True)))
        conditions.mark_true(DEPLOYED)
        return None

    async def deleted(self, key: str) -> None:
        await self.adapters.remove(key)
        self.tracker.forget(key)
