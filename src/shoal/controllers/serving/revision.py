"""The Revision reconciler: instances in a runtime, their readiness, and Knative's conditions.

A Revision runs as many instances as its ``Scaler`` (the autoscaler of the data plane)
decides — without one, its initial scale (``autoscaling.knative.dev/initial-scale``, else
``min-scale``, else config-autoscaler's ``initial-scale``) — in the runtime its container
asks for: a plain process when the container has a
command and no image, an OCI image otherwise. The reconciler hands the runtime each
instance's environment (Knative's runtime contract plus the container's env, ConfigMap and
Secret references resolved through the API), publishes the ready instances' addresses as
the revision's endpoints, and reports Knative's conditions: ``ContainerHealthy`` False with
``ExitCode<N>`` when the app exits, ``ResourcesAvailable`` False with
``ProgressDeadlineExceeded`` when no instance got ready within the progress deadline
(``serving.knative.dev/progress-deadline``, else config-deployment's, 600 s), ``Active``
as the scaler reports it (``NoTraffic`` at zero). Scaling in drains: the instance leaves
the data plane's rotation first, the requests it serves finish (up to the revision's
timeout), then it is stopped. A finalizer stops every instance before the Revision goes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from shoal.api.catalog import default_catalog
from shoal.api.config import SERVING_NS, Config, parse_go_duration
from shoal.api.errors import NotFound
from shoal.api.serving import keys
from shoal.api.serving.revision import Revision, RevisionStatus
from shoal.client.base import Client
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.events import EventRecorder
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch
from shoal.runtime.base import Instance, InstanceSpec, InstanceState, Runtime

REVISIONS = default_catalog().require("revisions")
CONFIGMAPS = default_catalog().require("configmaps")
SECRETS = default_catalog().require("secrets")
REVISION_CONDITIONS = ConditionSet("Ready", ["ContainerHealthy", "ResourcesAvailable"])
FINALIZER = "revisions.serving.knative.dev"
SCALING_CONFIG = ("config-autoscaler", "config-deployment", "config-defaults")
Obj = dict[str, Any]
Endpoints = Callable[[str, list[str]], None]
log = logging.getLogger("shoal.controllers.revision")


class ScaleDecision(Protocol):
    @property
    def scale(self) -> int: ...  # instances to run now
    @property
    def desired(self) -> int: ...  # the autoscaler's wish, -1 when not known yet
    @property
    def active(self) -> str: ...  # the Active condition: "True", "False", "Unknown"
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def panicking(self) -> bool: ...


class Scaler(Protocol):
    """The data plane as the reconciler sees it: scale decisions, rotation, draining."""

    def decide(self, key: str, revision: Revision, *, ready: int,
               progress_deadline: float) -> ScaleDecision: ...

    def set_endpoints(self, key: str, addresses: list[str]) -> None: ...

    async def drain(self, key: str, address: str, timeout: float) -> None: ...

    def forget(self, key: str) -> None: ...


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
                 endpoints: Endpoints | None = None, scaler: Scaler | None = None,
                 recorder: EventRecorder | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.runtimes = runtimes
        self.choose = choose
        self.config = config
        self.endpoints = scaler.set_endpoints if scaler is not None else endpoints
        self.scaler = scaler
        self.recorder = recorder
        self.clock = clock
        self.draining: dict[str, asyncio.Task[None]] = {}  # instance id -> its drain
        self.scales: dict[str, int] = {}  # revision -> the instances it was last to run
        # an edit of the autoscaler's or the deployment's config reaches every revision
        self.watches = (Watch(CONFIGMAPS, self._config_changed, namespace=SERVING_NS),)

    def _config_changed(self, obj: Obj) -> list[str]:
        name = (obj.get("metadata") or {}).get("name")
        return list(self.scales) if name in SCALING_CONFIG else []

    def _instances(self, key: str) -> list[Instance]:
        return [i for runtime in self.runtimes.values() for i in runtime.list(key)]

    def _drain(self, key: str, instance: Instance, timeout: float) -> None:
        """Out of rotation, wait for its requests, then stop it (in the background)."""
        async def drain() -> None:
            try:
                if self.scaler is not None and instance.address:
                    await self.scaler.drain(key, instance.address, timeout)
                await self.runtimes[instance.runtime].stop(instance.id)
            except Exception:
                log.exception("stopping instance %s of %s failed", instance.id, key)
            finally:
                self.draining.pop(instance.id, None)
        self.draining[instance.id] = asyncio.get_running_loop().create_task(drain())

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
        instances = [i for i in self._instances(key)
                     if i.state != InstanceState.STOPPED and i.id not in self.draining]
        decision: ScaleDecision | None = None
        if self.scaler is not None:
            decision = self.scaler.decide(
                key, obj, ready=sum(1 for i in instances if i.state == InstanceState.READY),
                progress_deadline=progress_deadline(annotations, config))
            desired = decision.scale
            status.desired_replicas = decision.desired if decision.desired >= 0 else desired
            before = self.scales.get(key)
            self.scales[key] = desired
            if before is not None and before != desired and self.recorder is not None:
                await self.recorder.normal(obj, "Scaled", _scaled(before, desired, decision))
        else:
            desired = initial_scale(annotations, config)
            status.desired_replicas = desired
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
        if len(instances) > desired:
            # scale in: instances that are not serving go first, then the newest
            instances.sort(key=lambda i: (i.state != InstanceState.READY, -i.started_at))
            timeout = float(obj.spec.timeout_seconds or 300)
            for extra in instances[desired:]:
                self._drain(key, extra, timeout)
            instances = instances[:desired]

        ready = [i for i in instances if i.state == InstanceState.READY]
        failed = [i for i in instances if i.state == InstanceState.FAILED]
        status.actual_replicas = len(ready)
        if self.endpoints is not None:
            self.endpoints(key, [i.address for i in ready])
        if decision is not None:
            _mark_active(conditions, decision)
        if ready:
            conditions.mark_true("ContainerHealthy")
            conditions.mark_true("ResourcesAvailable")
            if decision is None:
                conditions.mark_true("Active")
            return None
        if failed:
            worst = failed[0]
            conditions.mark_false("ContainerHealthy", worst.reason or "ExitCode1",
                                  f"Container failed with: {worst.message}".strip())
        if desired == 0:
            conditions.mark_true("ResourcesAvailable")
            conditions.mark_true("ContainerHealthy")
            if decision is None:
                conditions.mark_false("Active", "NoTraffic",
                                      "The target is not receiving traffic.")
            return None
        if conditions.is_true("ResourcesAvailable") and not failed:
            return None  # scaling up a revision that was ready before (from zero, say)
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
        if self.endpoints is not None:
            self.endpoints(key, [])
        for instance in self._instances(key):
            task = self.draining.pop(instance.id, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.runtimes[instance.runtime].stop(instance.id)
        if self.scaler is not None:
            self.scaler.forget(key)
        self.scales.pop(key, None)


def _scaled(before: int, after: int, decision: ScaleDecision) -> str:
    """The message of a ``Scaled`` event: what changed and why, as far as it is known."""
    why = " in panic mode" if decision.panicking else ""
    if after == 0:
        why = " after no traffic"
    elif before == 0:
        why = " to answer a request"
    return f"Scaled from {before} to {after} instances{why}"


def _mark_active(conditions: Any, decision: ScaleDecision) -> None:
    if decision.active == "True":
        conditions.mark_true("Active")
    elif decision.active == "False":
        conditions.mark_false("Active", decision.reason or "NoTraffic", decision.message)
    else:
        conditions.mark_unknown("Active", decision.reason or "Queued", decision.message)


def _parse_time(text: str) -> float | None:
    from datetime import datetime
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
