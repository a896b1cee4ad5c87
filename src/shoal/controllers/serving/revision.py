"""The Revision reconciler: instances in a runtime, their readiness, and Knative's conditions.

A Revision runs its initial scale of instances (``autoscaling.knative.dev/initial-scale``,
else ``min-scale``, else config-autoscaler's ``initial-scale``; the autoscaler takes over
from there) in the runtime its container asks for: a plain process when the container has a
command and no image, an OCI image otherwise. The reconciler hands the runtime each
instance's environment (Knative's runtime contract plus the container's env, ConfigMap and
Secret references resolved through the API), publishes the ready instances' addresses as
the revision's endpoints, and reports Knative's conditions: ``ContainerHealthy`` False with
``ExitCode<N>`` when the app exits, ``ResourcesAvailable`` False with
``ProgressDeadlineExceeded`` when no instance got ready within the progress deadline
(``serving.knative.dev/progress-deadline``, else config-deployment's, 600 s), ``Active``
while instances run. A finalizer stops every instance before the Revision goes.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.config import SERVING_NS, Config, parse_go_duration
from shoal.api.errors import NotFound
from shoal.api.serving import keys
from shoal.api.serving.revision import Revision, RevisionStatus
from shoal.client.base import Client
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult
from shoal.runtime.base import Instance, InstanceSpec, InstanceState, Runtime

REVISIONS = default_catalog().require("revisions")
CONFIGMAPS = default_catalog().require("configmaps")
SECRETS = default_catalog().require("secrets")
REVISION_CONDITIONS = ConditionSet("Ready", ["ContainerHealthy", "ResourcesAvailable"])
FINALIZER = "revisions.serving.knative.dev"
Obj = dict[str, Any]
Endpoints = Callable[[str, list[str]], None]


def initial_scale(annotations: dict[str, str], config: Config) -> int:
    for key in ("autoscaling.knative.dev/initial-scale", "autoscaling.knative.dev/initialScale",
                "autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/minScale"):
        if key in annotations:
            try:
                return max(0, int(annotations[key]))
            except ValueError:
                break
    return max(0, config.get_int(SERVING_NS, "config-autoscaler", "initial-scale"))


def progress_deadline(annotations: dict[str, str], config: Config) -> float:
    value = annotations.get(keys.PROGRESS_DEADLINE)
    parsed = parse_go_duration(value) if value else None
    if parsed is None:
        parsed = config.get_seconds(SERVING_NS, "config-deployment", "progress-deadline")
    return parsed


class RevisionReconciler(ModelReconciler[Revision]):
    rt = REVISIONS
    finalizer = FINALIZER

    def __init__(self, client: Client, runtimes: dict[str, Runtime],
                 choose: Callable[[dict[str, Any]], str], config: Callable[[], Config], *,
                 endpoints: Endpoints | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.runtimes = runtimes
        self.choose = choose
        self.config = config
        self.endpoints = endpoints
        self.clock = clock

    def _instances(self, key: str) -> list[Instance]:
        return [i for runtime in self.runtimes.values() for i in runtime.list(key)]

    async def _env(self, obj: Revision, container: Obj) -> dict[str, str]:
        """envFrom and valueFrom references, resolved through the API."""
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix") or ""
            if source.get("configMapRef"):
                data = await self._data(CONFIGMAPS, source["configMapRef"], obj.namespace)
            else:
                data = await self._data(SECRETS, source.get("secretRef") or {}, obj.namespace)
            env.update({prefix + k: v for k, v in data.items()})
        for item in container.get("env") or []:
            ref = item.get("valueFrom") or {}
            for kind, rt in (("configMapKeyRef", CONFIGMAPS), ("secretKeyRef", SECRETS)):
                if kind in ref:
                    data = await self._data(rt, ref[kind], obj.namespace)
                    if ref[kind].get("key") in data:
                        env[item["name"]] = data[ref[kind]["key"]]
        return env

    async def _data(self, rt: Any, ref: Obj, namespace: str) -> dict[str, str]:
        try:
            obj = await self.client.get(rt, str(ref.get("name") or ""), namespace)
        except NotFound:
            if ref.get("optional"):
                return {}
            raise
        data = dict(obj.get("data") or {})
        if rt is SECRETS:
            return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
        return data

    async def reconcile(self, obj: Revision) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        status = obj.status = obj.status or RevisionStatus()
        conditions = REVISION_CONDITIONS.manage(status)
        conditions.initialize()
        config = self.config()
        annotations = obj.metadata.annotations or {}
        labels = obj.metadata.labels or {}
        spec = obj.spec.dump()
        container = (spec.get("containers") or [{}])[0]
        ports = container.get("ports") or []
        port = int(ports[0].get("containerPort") or 8080) if ports else 8080
        desired = initial_scale(annotations, config)
        status.desired_replicas = desired

        instances = [i for i in self._instances(key) if i.state != InstanceState.STOPPED]
        runtime = self.runtimes[self.choose(container)]
        if len(instances) < desired:
            try:
                extra_env = await self._env(obj, container)
            except NotFound as err:
                conditions.mark_false("ContainerHealthy", "CreateContainerConfigError",
                                      str(err))
                return ReconcileResult(requeue_after=5)
            for _ in range(desired - len(instances)):
                instances.append(await runtime.start(InstanceSpec(
                    revision=key, namespace=obj.namespace,
                    service=labels.get(keys.SERVICE_LABEL, ""),
                    configuration=labels.get(keys.CONFIGURATION_LABEL, ""),
                    container=container, env=extra_env, port=port)))
        for extra in instances[desired:]:
            await self.runtimes[extra.runtime].stop(extra.id)
        instances = instances[:desired]

        ready = [i for i in instances if i.state == InstanceState.READY]
        failed = [i for i in instances if i.state == InstanceState.FAILED]
        status.actual_replicas = len(ready)
        if self.endpoints is not None:
            self.endpoints(key, [i.address for i in ready])
        if ready:
            conditions.mark_true("ContainerHealthy")
            conditions.mark_true("ResourcesAvailable")
            conditions.mark_true("Active")
            return None
        if failed:
            worst = failed[0]
            conditions.mark_false("ContainerHealthy", worst.reason or "ExitCode1",
                                  f"Container failed with: {worst.message}".strip())
        if desired == 0:
            conditions.mark_true("ResourcesAvailable")
            conditions.mark_true("ContainerHealthy")
            conditions.mark_false("Active", "NoTraffic", "The target is not receiving traffic.")
            return None
        created = obj.metadata.creation_timestamp or ""
        started = _parse_time(created)
        deadline = progress_deadline(annotations, config)
        if started is not None and self.clock() - started > deadline:
            conditions.mark_false("ResourcesAvailable", "ProgressDeadlineExceeded",
                                  "Initial scale was never achieved")
            return None
        conditions.mark_unknown("ResourcesAvailable", "Deploying", "")
        return ReconcileResult(requeue_after=min(5.0, max(0.1, deadline)))

    async def finalize(self, obj: Revision) -> None:
        key = f"{obj.namespace}/{obj.name}"
        for instance in self._instances(key):
            await self.runtimes[instance.runtime].stop(instance.id)
        if self.endpoints is not None:
            self.endpoints(key, [])


def _parse_time(text: str) -> float | None:
    from datetime import datetime
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
