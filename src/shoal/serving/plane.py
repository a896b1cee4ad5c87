"""The serving data plane of ``shoal up``: runtimes, the gateway, the activator, the
autoscaler, and their reconcilers.

It owns the routing table the gateway serves, the activator (every revision's instances in
rotation, their slots and metrics), the autoscaler and the runtimes instances run in, and
builds the serving reconcilers wired to them: the Route reconciler publishes each resolved
Route into the table; the Revision reconciler asks the plane (its ``Scaler``) how many
instances to run, publishes the ready ones into the activator's rotation, drains those it
scales in, and is woken by every change of an instance and every new decision; the
DomainMapping reconciler maps custom hosts onto Routes in the table, and the
Configuration reconciler collects old revisions. Every change of an instance also goes to
the Pod publisher (``pods``). Revisions whose container has a command and no image run as
local processes; the others run in podman (or docker) when one is installed, and
otherwise fail with a reason that says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoal.api.config import SERVING_NS, Config
from shoal.api.serving import keys
from shoal.api.serving.revision import Revision
from shoal.client.base import Client
from shoal.controllers.manager import Manager
from shoal.controllers.serving.configuration import ConfigurationReconciler
from shoal.controllers.serving.domainmapping import DomainMappingReconciler
from shoal.controllers.serving.gc import RevisionCollector
from shoal.controllers.serving.revision import RevisionReconciler
from shoal.controllers.serving.route import ResolvedRoute, RouteReconciler
from shoal.controllers.serving.service import ServiceReconciler
from shoal.controllers.tracker import Tracker
from shoal.runtime.base import DOCKER, PODMAN, PROCESS, Runtime, choose_runtime
from shoal.runtime.container import ContainerRuntime, PullPolicy, available
from shoal.runtime.process import ProcessRuntime
from shoal.serving.activator import Activator, Timeouts
from shoal.serving.autoscaler import Autoscaler, Decision
from shoal.serving.gateway import Gateway
from shoal.serving.kpa import decider_spec, scale_bounds
from shoal.serving.metrics import MetricsServer
from shoal.serving.pods import PodPublisher
from shoal.serving.routing import Backend, Route, RoutingTable

log = logging.getLogger("shoal.serving")


class ServingPlane:
    def __init__(self, client: Client, data_dir: Path, config: Callable[[], Config], *,
                 host: str = "127.0.0.1", port: int = 8080, metrics_port: int | None = None,
                 image_pull: PullPolicy | None = None, tick: float = 2.0) -> None:
        self.client = client
        self.data_dir = data_dir
        self.config = config
        self.image_pull = image_pull
        tag_header = config().feature(SERVING_NS, "tag-header-based-routing") == "enabled"
        self.table = RoutingTable(tag_header_routing=tag_header)
        self.activator = Activator(time.monotonic)
        self.autoscaler = Autoscaler(self.activator, tick=tick)
        self.gateway = Gateway(self.table, host, port, activator=self.activator)
        self.metrics = (MetricsServer(self.activator, self.autoscaler, host, metrics_port)
                        if metrics_port is not None else None)
        self.runtimes: dict[str, Runtime] = {}
        self.image_runtime = PODMAN
        self.pods = PodPublisher(client, self.runtimes)

    @property
    def port(self) -> int:
        return self.gateway.port

    async def start(self) -> None:
        process = ProcessRuntime(self.data_dir / "runtime" / "process")
        reaped = await process.reap_orphans()
        self.runtimes[PROCESS] = process
        for engine in (PODMAN, DOCKER):
            if await available(engine):
                containers = ContainerRuntime(engine, self.data_dir / "runtime" / engine,
                                              pull=self.image_pull)
                reaped += await containers.reap_orphans()
                self.runtimes[engine] = containers
                self.image_runtime = engine
                break
        if reaped:
            log.info("cleaned up %d instances left by an earlier run", len(reaped))
        stale = await self.pods.remove_all()
        if stale:
            log.info("removed %d pods left by an earlier run", stale)
        for runtime in self.runtimes.values():
            runtime.subscribe(self.pods.changed)
        await self.gateway.start()
        await self.autoscaler.start()
        if self.metrics is not None:
            await self.metrics.start()

    async def stop(self) -> None:
        if self.metrics is not None:
            await self.metrics.stop()
        await self.autoscaler.stop()
        await self.gateway.stop()
        for runtime in self.runtimes.values():
            await runtime.close()
        await self.pods.close()

    def choose(self, container: dict[str, Any]) -> str:
        wanted = choose_runtime(container, self.image_runtime)
        return wanted if wanted in self.runtimes else PROCESS

    def publish(self, route: ResolvedRoute | None, namespace: str, name: str) -> bool:
        self.table.tag_header_routing = self.config().feature(
            SERVING_NS, "tag-header-based-routing") == "enabled"  # config-features may change
        if route is None:
            self.table.remove(namespace, name)
            return True
        tags = {tag: f"{namespace}/{revision}" for tag, _, revision in route.tags}
        try:
            self.table.update(Route(
                namespace=namespace, name=name, hosts=(route.host,),
                cluster_local=route.cluster_local,
                targets=tuple(Backend(f"{namespace}/{revision}", percent)
                              for revision, percent in route.targets),
                tags=tags))
        except ValueError as err:
            log.warning("route %s/%s not served: %s", namespace, name, err)
            return False
        return True

    # -- the Revision reconciler's Scaler ------------------------------------------------

    def decide(self, key: str, revision: Revision, *, ready: int,
               progress_deadline: float) -> Decision:
        config = self.config()
        annotations = revision.metadata.annotations or {}
        labels = revision.metadata.labels or {}
        reachable = labels.get(keys.ROUTING_STATE_LABEL) != "reserve"
        spec = revision.spec
        concurrency = spec.container_concurrency or 0
        self.activator.backend(key).configure(concurrency, Timeouts(
            total=float(spec.timeout_seconds or 0),
            response_start=float(spec.response_start_timeout_seconds or 0),
            idle=float(spec.idle_timeout_seconds or 0)))
        return self.autoscaler.update(
            key, decider_spec(annotations, config, concurrency, reachable=reachable),
            scale_bounds(annotations, config, reachable=reachable),
            ready=ready, progress_deadline=progress_deadline)

    def set_endpoints(self, key: str, addresses: list[str]) -> None:
        self.activator.backend(key).set_endpoints(addresses)

    async def drain(self, key: str, address: str, timeout: float) -> None:
        await self.activator.backend(key).drain(address, timeout)

    def forget(self, key: str) -> None:
        self.autoscaler.forget(key)
        self.activator.forget(key)

    def map_host(self, host: str, namespace: str, route: str | None) -> bool:
        if route is None:
            self.table.unmap_host(host, namespace)
        else:
            self.table.map_host(host, namespace, route)
        return True

    def add_reconcilers(self, manager: Manager) -> None:
        """Add the serving reconcilers, wired to this plane, to ``manager``."""
        manager.add(ServiceReconciler(self.client))
        manager.add(ConfigurationReconciler(self.client, collector=RevisionCollector(
            self.client, self.config, clock=lambda: manager.clock.now().timestamp())))
        manager.add(RouteReconciler(self.client, Tracker(clock=manager.clock),
                                    domain=lambda: self.config().domain,
                                    gateway_port=self.port, publish=self.publish,
                                    now=manager.clock.now))
        manager.add(DomainMappingReconciler(self.client, Tracker(clock=manager.clock),
                                            gateway_port=self.port, map_host=self.map_host))
        revisions = manager.add(RevisionReconciler(
            self.client, self.runtimes, self.choose, self.config, scaler=self,
            recorder=manager.recorder))
        self.autoscaler.on_change = revisions.enqueue
        for runtime in self.runtimes.values():
            runtime.subscribe(lambda instance: revisions.enqueue(instance.revision))
