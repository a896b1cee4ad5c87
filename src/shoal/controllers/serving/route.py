"""The Route reconciler: traffic targets resolved to revisions, URLs, and the routing table.

Each traffic target names a revision directly or a configuration (its latest ready
revision). The Route's status lists the resolved split with a URL per tag; its URL is
``http://{name}.{namespace}.{domain}`` with the gateway's port (the default domain is
``localhost``, which curl and browsers resolve with no DNS set-up). Its address, as
Knative's cluster-local one, is ``http://{name}.{namespace}.svc.localhost`` with the
gateway's port; a cluster-local Route has that as its URL too (and its tags likewise).
Conditions as Knative's: ``AllTrafficAssigned`` (``ConfigurationMissing``,
``RevisionMissing`` while a target cannot be resolved), ``IngressReady`` once the routing
table the gateway serves has the Route, ``CertificateProvisioned`` (no TLS here). After
each reconcile the labeller marks the routed revisions ``active`` and the ones no longer
routed ``reserve`` (``labeler``), which revision garbage collection reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.errors import NotFound
from shoal.api.model import Addressable
from shoal.api.serving import keys
from shoal.api.serving.route import Route, RouteStatus
from shoal.api.serving.traffic import TrafficTarget
from shoal.client.base import Client
from shoal.controllers.clock import rfc3339
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch
from shoal.controllers.serving.labeler import label_revisions
from shoal.controllers.serving.resources import LOCAL_DOMAIN, host, tag_host
from shoal.controllers.serving.service import ready_of
from shoal.controllers.tracker import Reference, Tracker

ROUTES = default_catalog().require("routes")
CONFIGURATIONS = default_catalog().require("configurations")
REVISIONS = default_catalog().require("revisions")
ROUTE_CONDITIONS = ConditionSet("Ready", ["AllTrafficAssigned", "CertificateProvisioned",
                                          "IngressReady"])
Obj = dict[str, Any]


@dataclass(frozen=True)
class ResolvedRoute:
    """What the gateway needs to serve a Route: hosts and the split over revisions."""

    namespace: str
    name: str
    host: str
    cluster_local: bool
    targets: tuple[tuple[str, int], ...]  # (revision name, percent)
    tags: tuple[tuple[str, str, str], ...]  # (tag, host, revision name)


Publish = Callable[[ResolvedRoute | None, str, str], bool]


class RouteReconciler(ModelReconciler[Route]):
    rt = ROUTES

    def __init__(self, client: Client, tracker: Tracker, *, domain: Callable[[], str],
                 gateway_port: int, publish: Publish | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.client = client
        self.now = now
        self.tracker = tracker
        self.domain = domain
        self.gateway_port = gateway_port
        self.publish = publish
        self.watches = (Watch(CONFIGURATIONS, tracker.mapper(CONFIGURATIONS)),
                        Watch(REVISIONS, tracker.mapper(REVISIONS)))

    def url(self, hostname: str) -> str:
        port = "" if self.gateway_port == 80 else f":{self.gateway_port}"
        return f"http://{hostname}{port}"

    async def _revision_for(self, obj: Route, target: TrafficTarget, key: str,
                            routed: set[str]) -> tuple[str | None, str, str, bool]:
        """(revision, reason, message, failed): the revision a target sends traffic to.

        As Knative's Route: a target naming nothing that exists, or a failed one, fails
        (``AllTrafficAssigned`` False); one that is not ready yet waits (Unknown)."""
        if target.configuration_name:
            name = target.configuration_name
            self.tracker.track(Reference.to(CONFIGURATIONS, obj.namespace, name), key)
            try:
                config = await self.client.get(CONFIGURATIONS, name, obj.namespace)
            except NotFound:
                return None, "ConfigurationMissing", (
                    f'Configuration "{name}" referenced in traffic not found.'), True
            created = (config.get("status") or {}).get("latestCreatedRevisionName")
            if created and target.latest_revision:
                routed.add(str(created))  # the labeller's smooth hand-over
            ready = (config.get("status") or {}).get("latestReadyRevisionName")
            if not ready:
                failed = ready_of(config)[0] == "False"
                return None, "RevisionMissing", (
                    f'Configuration "{name}" does not have any ready Revision.'), failed
            return str(ready), "", "", False
        name = target.revision_name or ""
        self.tracker.track(Reference.to(REVISIONS, obj.namespace, name), key)
        try:
            revision = await self.client.get(REVISIONS, name, obj.namespace)
        except NotFound:
            return None, "RevisionMissing", (
                f'Revision "{name}" referenced in traffic not found.'), True
        state = ready_of(revision)[0]
        if state != "True":
            return None, "RevisionMissing", (
                f'Revision "{name}" referenced in traffic is not ready.'), state == "False"
        return name, "", "", False

    async def reconcile(self, obj: Route) -> ReconcileResult | None:
        routed: set[str] = set()
        result = await self._reconcile(obj, routed)
        await label_revisions(self.client, obj.namespace, obj.name, routed,
                              rfc3339(self.now()))
        return result

    async def _reconcile(self, obj: Route, routed: set[str]) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        status = obj.status = obj.status or RouteStatus()
        conditions = ROUTE_CONDITIONS.manage(status)
        conditions.initialize()
        conditions.mark_true("CertificateProvisioned", "TLSNotEnabled",
                             "TLS is not enabled for this Route.")
        domain = self.domain()
        hostname = host(obj.name, obj.namespace, domain)
        cluster_local = (obj.metadata.labels or {}).get(keys.VISIBILITY_LABEL) == (
            keys.VISIBILITY_CLUSTER_LOCAL)
        url_domain = LOCAL_DOMAIN if cluster_local else domain
        status.url = self.url(host(obj.name, obj.namespace, url_domain))
        status.address = Addressable(url=self.url(host(obj.name, obj.namespace, LOCAL_DOMAIN)))

        traffic: list[TrafficTarget] = []
        split: dict[str, int] = {}
        tags: list[tuple[str, str, str]] = []
        missing: tuple[str, str, bool] | None = None
        for target in obj.spec.traffic or []:
            revision, reason, message, failed = await self._revision_for(obj, target, key,
                                                                         routed)
            if revision is None:
                if missing is None or (failed and not missing[2]):
                    missing = (reason, message, failed)
                continue
            resolved = TrafficTarget(revision_name=revision, percent=target.percent or 0)
            if target.latest_revision is not None:
                resolved.latest_revision = target.latest_revision
            if target.tag:
                tag = tag_host(target.tag, obj.name, obj.namespace, domain)
                resolved.tag = target.tag
                resolved.url = self.url(tag_host(target.tag, obj.name, obj.namespace,
                                                 url_domain))
                tags.append((target.tag, tag, revision))
            traffic.append(resolved)
            routed.add(revision)
            if target.percent:
                split[revision] = split.get(revision, 0) + target.percent
        if missing is not None:
            reason, message, failed = missing
            if failed:
                conditions.mark_false("AllTrafficAssigned", reason, message)
            else:
                conditions.mark_unknown("AllTrafficAssigned", reason, message)
            conditions.mark_unknown("IngressReady", "IngressNotConfigured",
                                    "waiting for all traffic to be assigned")
            return None
        status.traffic = traffic
        conditions.mark_true("AllTrafficAssigned")
        resolved_route = ResolvedRoute(obj.namespace, obj.name, hostname, cluster_local,
                                       tuple(split.items()), tuple(tags))
        if self.publish is None:
            conditions.mark_unknown("IngressReady", "IngressNotConfigured",
                                    "no gateway serves routes yet")
        elif self.publish(resolved_route, obj.namespace, obj.name):
            conditions.mark_true("IngressReady")
        else:
            conditions.mark_unknown("IngressReady", "Uninitialized",
                                    "waiting for the gateway")
        return None

    async def deleted(self, key: str) -> None:
        self.tracker.forget(key)
        namespace, _, name = key.partition("/")
        await label_revisions(self.client, namespace, name, (), rfc3339(self.now()))
        if self.publish is not None:
            self.publish(None, namespace, name)
