"""The DomainMapping reconciler: a host of the user's own routed to a Service's Route.

A DomainMapping is named after its host (``shop.example.com``) and references a Knative
Service or Route of its namespace. The reconciler claims the host, resolves the
reference to the Route that serves it and hands ``(host, namespace, route)`` to the
gateway's table, as Knative's does through a ClusterDomainClaim and a KIngress. Its
status carries ``url`` and ``address.url`` (``http://HOST`` with the gateway's port, as
every Shoal URL) and Knative's conditions: ``DomainClaimed``, ``ReferenceResolved``
(``ResolveFailed``), ``CertificateProvisioned`` (True with ``TLSNotEnabled``: no TLS here),
``IngressReady``.

The claim rule stands in for Knative's ClusterDomainClaims: of the mappings of one host
across namespaces, the oldest (by creation time, then namespace) owns it; any other is
``DomainClaimed`` False with ``DomainAlreadyClaimed`` and not served. When the owner goes,
the next oldest takes the host over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.errors import NotFound
from shoal.api.model import Addressable
from shoal.api.serving.domainmapping import DomainMapping, DomainMappingStatus
from shoal.client.base import Client
from shoal.controllers.cache import make_key
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch, api_group
from shoal.controllers.tracker import Reference, Tracker

DOMAIN_MAPPINGS = default_catalog().require("domainmappings")
SERVICES = default_catalog().require("ksvc")
ROUTES = default_catalog().require("routes")
DOMAIN_MAPPING_CONDITIONS = ConditionSet("Ready", [
    "DomainClaimed", "ReferenceResolved", "CertificateProvisioned", "IngressReady"])
Obj = dict[str, Any]

MapHost = Callable[[str, str, str | None], bool]
"""``(host, namespace, route name)``: serve the host as that Route; ``None`` stops
serving the host for that namespace. Returns whether the gateway serves it."""


def claim_order(mapping: Obj) -> tuple[str, str]:
    meta = mapping.get("metadata") or {}
    return str(meta.get("creationTimestamp") or ""), str(meta.get("namespace") or "")


class DomainMappingReconciler(ModelReconciler[DomainMapping]):
    rt = DOMAIN_MAPPINGS

    def __init__(self, client: Client, tracker: Tracker, *, gateway_port: int,
                 map_host: MapHost | None = None) -> None:
        self.client = client
        self.tracker = tracker
        self.gateway_port = gateway_port
        self.map_host = map_host
        self._namespaces: dict[str, set[str]] = {}  # host -> namespaces with a mapping
        self.watches = (Watch(SERVICES, tracker.mapper(SERVICES)),
                        Watch(ROUTES, tracker.mapper(ROUTES)),
                        Watch(DOMAIN_MAPPINGS, self._same_host))

    def _same_host(self, obj: Obj) -> list[str]:
        """A mapping's change wakes the mappings of the same host in other namespaces."""
        meta = obj.get("metadata") or {}
        host = str(meta.get("name") or "")
        return [make_key(ns, host) for ns in sorted(self._namespaces.get(host, ()))
                if ns != meta.get("namespace")]

    def url(self, host: str) -> str:
        port = "" if self.gateway_port == 80 else f":{self.gateway_port}"
        return f"http://{host}{port}"

    async def _claimed(self, obj: DomainMapping) -> bool:
        """Whether this mapping owns its host (see the module doc)."""
        listed = await self.client.list(DOMAIN_MAPPINGS, field_selector=(
            f"metadata.name={obj.name}"))
        rivals = [m for m in listed.items
                  if not (m.get("metadata") or {}).get("deletionTimestamp")]
        self._namespaces[obj.name] = {str(m["metadata"]["namespace"]) for m in rivals}
        if not rivals:
            return True
        owner = min(rivals, key=claim_order)
        return bool(owner["metadata"]["namespace"] == obj.namespace)

    async def _route_of(self, obj: DomainMapping, key: str) -> tuple[str | None, str]:
        """(route name, error): the Route that serves the reference."""
        ref = obj.spec.ref
        if ref is None or not ref.name:
            return None, "spec.ref is not set"
        group = api_group(ref.api_version or "")
        rt = {("serving.knative.dev", "Service"): SERVICES,
              ("serving.knative.dev", "Route"): ROUTES}.get((group, ref.kind or ""))
        if rt is None:
            return None, (f"{ref.kind} ({ref.api_version}) is not addressable by a "
                          f"domain mapping here: reference a Knative Service or Route")
        self.tracker.track(Reference.to(rt, obj.namespace, ref.name), key)
        try:
            target = await self.client.get(rt, ref.name, obj.namespace)
        except NotFound as err:
            return None, str(err)
        address = ((target.get("status") or {}).get("address") or {}).get("url")
        if not address:
            return None, (f"address not set for {ref.kind} {obj.namespace}/{ref.name}")
        return ref.name, ""

    async def reconcile(self, obj: DomainMapping) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        status = obj.status = obj.status or DomainMappingStatus()
        conditions = DOMAIN_MAPPING_CONDITIONS.manage(status)
        conditions.initialize()
        status.url = self.url(obj.name)
        status.address = Addressable(url=status.url)
        conditions.mark_true("CertificateProvisioned", "TLSNotEnabled",
                             "autoTLS is not enabled")
        if not await self._claimed(obj):
            conditions.mark_false("DomainClaimed", "DomainAlreadyClaimed",
                                  "The domain name is already in use by another "
                                  "DomainMapping")
            self._unmap(obj.namespace, obj.name)
            return None
        conditions.mark_true("DomainClaimed")
        route, error = await self._route_of(obj, key)
        if route is None:
            conditions.mark_false("ReferenceResolved", "ResolveFailed", error)
            self._unmap(obj.namespace, obj.name)
            return None
        conditions.mark_true("ReferenceResolved")
        if self.map_host is None:
            conditions.mark_unknown("IngressReady", "IngressNotConfigured",
                                    "no gateway serves domain mappings")
        elif self.map_host(obj.name, obj.namespace, route):
            conditions.mark_true("IngressReady")
        else:
            conditions.mark_unknown("IngressReady", "IngressNotConfigured",
                                    "Ingress has not yet been reconciled.")
        return None

    def _unmap(self, namespace: str, host: str) -> None:
        if self.map_host is not None:
            self.map_host(host, namespace, None)

    async def deleted(self, key: str) -> None:
        self.tracker.forget(key)
        namespace, _, host = key.partition("/")
        self._unmap(namespace, host)
        namespaces = self._namespaces.get(host)
        if namespaces is not None:
            namespaces.discard(namespace)
            if not namespaces:
                del self._namespaces[host]
