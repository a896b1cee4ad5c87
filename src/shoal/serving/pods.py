"""Instances as Pods: a read-only mirror of every running instance of a Revision in the API.

The serving plane subscribes ``PodPublisher.changed`` to each runtime. Changes are
coalesced: the first one schedules a sync of its revision ``interval`` seconds later, and
every change meanwhile joins that sync, so a burst of probe results costs one write per
Pod. A sync makes the Pods of a revision match its instances (create, write status,
delete). At start the publisher deletes the Pods a previous run left; at close, the ones
it published.

The shape (``pod_for``): name = the instance's id (``<revision>-<8 hex>``); labels
``serving.knative.dev/revision``, ``/revisionUID``, ``/configuration``, ``/service`` and
``app=<revision>``, as Knative's Deployments give their Pods; an ownerReference to the
Revision (deleting it deletes them); the serving container with its port and the
published ``hostPort`` on ``127.0.0.1``; ``status.phase`` Pending (starting or probing),
Running (ready) or Failed (exited, waiting to be restarted); ``podIP`` 127.0.0.1;
``containerStatuses[0]`` with ``ready``, ``restartCount`` and the state; conditions
``Ready`` and ``ContainersReady``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.errors import ApiError, NotFound
from shoal.api.serving import keys
from shoal.client.base import Client
from shoal.runtime.base import Instance, InstanceState, Runtime

PODS = default_catalog().require("pods")
REVISIONS = default_catalog().require("revisions")
MANAGED_BY = "app.kubernetes.io/managed-by"
PUBLISHER = "shoal"
REVISION_UID_LABEL = keys.GROUP + "/revisionUID"
_COPIED_LABELS = (keys.SERVICE_LABEL, keys.CONFIGURATION_LABEL,
                  keys.CONFIGURATION_GENERATION_LABEL)
Obj = dict[str, Any]
log = logging.getLogger("shoal.serving.pods")

_PHASES = {InstanceState.STARTING: "Pending", InstanceState.READY: "Running",
           InstanceState.FAILED: "Failed"}


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _container_state(instance: Instance) -> Obj:
    if instance.state is InstanceState.FAILED:
        if instance.exit_code is not None:
            return {"terminated": {"exitCode": instance.exit_code, "reason": instance.reason,
                                   "message": instance.message}}
        return {"waiting": {"reason": instance.reason, "message": instance.message}}
    if instance.started_at:
        return {"running": {"startedAt": _stamp(instance.started_at)}}
    return {"waiting": {"reason": "ContainerCreating"}}


def pod_for(instance: Instance, revision: Obj) -> Obj:
    """The Pod that mirrors ``instance`` of ``revision`` (as stored), status included."""
    meta = revision["metadata"]
    name = str(meta["name"])
    revision_labels = meta.get("labels") or {}
    labels = {k: revision_labels[k] for k in _COPIED_LABELS if k in revision_labels}
    labels.update({keys.REVISION_LABEL: name, REVISION_UID_LABEL: str(meta.get("uid") or ""),
                   "app": name, MANAGED_BY: PUBLISHER})
    container = dict(((revision.get("spec") or {}).get("containers") or [{}])[0])
    host, _, host_port = instance.address.rpartition(":")
    ports = container.get("ports") or [{"containerPort": int(host_port)}]
    container["ports"] = [{**ports[0], "hostPort": int(host_port), "hostIP": host}]
    ready = "True" if instance.state is InstanceState.READY else "False"
    conditions = [{"type": kind, "status": ready} for kind in ("Ready", "ContainersReady")]
    if ready == "False" and instance.reason:
        for condition in conditions:
            condition.update(reason="ContainersNotReady", message=(
                f"containers with unready status: [{container.get('name', 'user-container')}]"))
    status: Obj = {
        "phase": _PHASES.get(instance.state, "Unknown"),
        "conditions": conditions,
        "hostIP": host, "podIP": host, "podIPs": [{"ip": host}],
        "containerStatuses": [{
            "name": container.get("name") or "user-container",
            "image": container.get("image") or "",
            "ready": ready == "True",
            "started": instance.state is InstanceState.READY,
            "restartCount": instance.restarts,
            "state": _container_state(instance)}],
    }
    if instance.started_at:
        status["startTime"] = _stamp(instance.started_at)
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": instance.id, "namespace": meta["namespace"], "labels": labels,
            "annotations": {"shoal.dev/runtime": instance.runtime},
            "ownerReferences": [{
                "apiVersion": "serving.knative.dev/v1", "kind": "Revision", "name": name,
                "uid": meta.get("uid"), "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"containers": [container], "restartPolicy": "Always",
                 "nodeName": "localhost"},
        "status": status,
    }


class PodPublisher:
    """Keeps one Pod per running instance; see the module doc."""

    def __init__(self, client: Client, runtimes: dict[str, Runtime], *,
                 interval: float = 0.2) -> None:
        self.client = client
        self.runtimes = runtimes
        self.interval = interval
        self._dirty: set[str] = set()  # revision keys "namespace/name"
        self._task: asyncio.Task[None] | None = None

    def changed(self, instance: Instance) -> None:
        """A runtime's change callback: sync the instance's revision soon."""
        self._dirty.add(instance.revision)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="pod publisher")

    async def _run(self) -> None:
        while self._dirty:
            await asyncio.sleep(self.interval)
            revisions, self._dirty = self._dirty, set()
            for key in sorted(revisions):
                try:
                    await self.sync(key)
                except ApiError as err:
                    log.warning("pods of revision %s not published: %s", key, err)

    async def sync(self, key: str) -> None:
        """Make the Pods of revision ``key`` match its running instances."""
        namespace, _, name = key.partition("/")
        instances = [i for runtime in self.runtimes.values() for i in runtime.list(key)
                     if i.state is not InstanceState.STOPPED]
        try:
            revision = await self.client.get(REVISIONS, name, namespace)
        except NotFound:
            revision, instances = {}, []
        listed = await self.client.list(
            PODS, namespace, label_selector=f"{keys.REVISION_LABEL}={name}")
        existing = {p["metadata"]["name"]: p for p in listed.items}
        for instance in instances:
            desired = pod_for(instance, revision)
            current = existing.pop(instance.id, None)
            if current is None:
                current = await self.client.create(PODS, {**desired, "status": {}})
            if current.get("status") != desired["status"]:
                await self.client.update_status(PODS, {**current, "status": desired["status"]})
        for stale in existing:
            with contextlib.suppress(NotFound):
                await self.client.delete(PODS, stale, namespace)

    async def remove_all(self) -> int:
        """Delete every Pod a publisher made (what a previous run left, at start)."""
        listed = await self.client.list(PODS, label_selector=f"{MANAGED_BY}={PUBLISHER}")
        for pod in listed.items:
            meta = pod["metadata"]
            with contextlib.suppress(NotFound):
                await self.client.delete(PODS, meta["name"], meta["namespace"])
        return len(listed.items)

    async def close(self) -> None:
        """Stop publishing and delete the published Pods (every instance has stopped)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        self._dirty.clear()
        await self.remove_all()
