"""ContainerSource: a program that sends events, run by the serving runtimes.

The first container of ``spec.template`` runs as one instance in the runtime its container
asks for (the process runtime for a ``command`` with no ``image``, podman or docker for an
image), with ``K_SINK`` (the resolved sink) and ``K_CE_OVERRIDES`` (the JSON of
``spec.ceOverrides``) in its environment, as Knative's SinkBinding gives the Deployment it
creates. It serves nothing, so it counts as ready while it runs; when it exits, the
runtime's supervisor restarts it with a kubelet's crash backoff. A change of the template,
sink or overrides replaces the instance; a finalizer stops it before the source goes.

Conditions as Knative's ``containersource_lifecycle.go``: ``SinkBindingReady`` (the sink
resolved and handed to the program), ``ReceiveAdapterReady`` (the program runs; False with
``ExitCode<N>`` while it is crashing), ``Ready``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.sources.base import SourceStatus
from shoal.api.sources.container import ContainerSource
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult
from shoal.controllers.resolver import DestinationResolver
from shoal.controllers.tracker import Tracker
from shoal.runtime.base import Instance, InstanceSpec, InstanceState, Runtime
from shoal.sources.base import ce_overrides_json, resolve_sink, sink_watches

SINK_BINDING_READY = "SinkBindingReady"
RECEIVE_ADAPTER_READY = "ReceiveAdapterReady"
CONTAINER_CONDITIONS = ConditionSet("Ready", [SINK_BINDING_READY, RECEIVE_ADAPTER_READY])
FINALIZER = "containersources.sources.knative.dev"
# Instances run under "namespace/containersource_NAME": "_" is in no Kubernetes name, so a
# source never shares its key with a Revision in the same runtime.
PREFIX = "containersource_"


def instance_key(namespace: str, name: str) -> str:
    return f"{namespace}/{PREFIX}{name}"


def source_key(instance: Instance) -> str | None:
    """The ``namespace/name`` of the ContainerSource an instance runs for, if any."""
    namespace, _, name = instance.revision.partition("/")
    return f"{namespace}/{name[len(PREFIX):]}" if name.startswith(PREFIX) else None


class ContainerSourceReconciler(ModelReconciler[ContainerSource]):
    rt = default_catalog().require("containersources")
    finalizer = FINALIZER

    def __init__(self, runtimes: dict[str, Runtime], choose: Callable[[dict[str, Any]], str],
                 resolver: DestinationResolver, tracker: Tracker) -> None:
        self.runtimes = runtimes
        self.choose = choose
        self.resolver = resolver
        self.tracker = tracker
        self.watches = sink_watches(tracker)
        self._running: dict[str, str] = {}  # instance key -> fingerprint of what it runs

    def _instances(self, key: str) -> list[Instance]:
        return [i for runtime in self.runtimes.values() for i in runtime.list(key)
                if i.state is not InstanceState.STOPPED]

    async def _stop_all(self, key: str) -> None:
        for instance in self._instances(key):
            await self.runtimes[instance.runtime].stop(instance.id, grace=10.0)
        self._running.pop(key, None)

    async def reconcile(self, obj: ContainerSource) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        status = obj.status = obj.status or SourceStatus()
        conditions = CONTAINER_CONDITIONS.manage(status)
        conditions.initialize()
        sink = await resolve_sink(self.resolver, obj.spec, obj.namespace, key, status,
                                  conditions, SINK_BINDING_READY)
        if sink is None:
            return ReconcileResult(requeue_after=10)
        template = obj.spec.template
        pod = template.spec if template is not None else None
        container = pod.containers[0].dump() if pod is not None and pod.containers else {}
        env = {"K_SINK": sink, "K_CE_OVERRIDES": ce_overrides_json(obj.spec)}
        fingerprint = json.dumps([container, env], sort_keys=True)
        ikey = instance_key(obj.namespace, obj.name)
        if self._running.get(ikey) != fingerprint:
            await self._stop_all(ikey)
        instances = self._instances(ikey)
        if not instances:
            runtime = self.runtimes[self.choose(container)]
            instances = [await runtime.start(InstanceSpec(
                revision=ikey, namespace=obj.namespace, service="", configuration="",
                container=container, env=env, serves=False))]
            self._running[ikey] = fingerprint
        instance = instances[0]
        if instance.state is InstanceState.READY:
            conditions.mark_true(RECEIVE_ADAPTER_READY)
        elif instance.state is InstanceState.FAILED:
            conditions.mark_false(RECEIVE_ADAPTER_READY, instance.reason or "ExitCode1",
                                  f"Container failed with: {instance.message}".strip())
        else:
            conditions.mark_unknown(RECEIVE_ADAPTER_READY, "Starting",
                                    "the receive adapter is starting")
        return None

    async def finalize(self, obj: ContainerSource) -> None:
        await self._stop_all(instance_key(obj.namespace, obj.name))

    async def deleted(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        await self._stop_all(instance_key(namespace, name))
        self.tracker.forget(key)
