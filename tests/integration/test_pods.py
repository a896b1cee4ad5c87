"""Instances as Pods: the process runtime runs a revision, the publisher mirrors it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.client.inprocess import InProcessClient
from shoal.runtime import InstanceSpec, ProcessRuntime
from shoal.serving.pods import PodPublisher

PODS = default_catalog().require("pods")
REVISIONS = default_catalog().require("revisions")
APP = """\
import os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
if os.environ.get("CRASH"):
    sys.exit(3)
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), BaseHTTPRequestHandler).serve_forever()
"""


async def pods_until(client: InProcessClient, test: Callable[[list[dict[str, Any]]], bool],
                     ) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = []
    for _ in range(500):
        pods = (await client.list(PODS, "default")).items
        if test(pods):
            return pods
        await asyncio.sleep(0.02)
    raise AssertionError(f"pods never matched: {[p.get('status') for p in pods]}")


def phase(pods: list[dict[str, Any]]) -> list[str]:
    return [p["status"].get("phase", "") for p in pods]


async def test_instances_are_published_as_pods(api_server: Any, tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    client = InProcessClient(api_server.registry)
    revision = await client.create(REVISIONS, {
        "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
        "metadata": {"name": "hello-00001", "namespace": "default", "labels": {
            "serving.knative.dev/service": "hello"}},
        "spec": {"containers": [{"command": [sys.executable, str(app)]}]}})
    container = revision["spec"]["containers"][0]
    runtime = ProcessRuntime(tmp_path / "state")
    publisher = PodPublisher(client, {runtime.name: runtime}, interval=0.05)
    runtime.subscribe(publisher.changed)
    try:
        spec = InstanceSpec(revision="default/hello-00001", namespace="default",
                            service="hello", configuration="hello", container=container, env={})
        instance = await runtime.start(spec)
        (pod,) = await pods_until(client, lambda pods: phase(pods) == ["Running"])
        meta = pod["metadata"]
        assert meta["name"] == instance.id and meta["name"].startswith("hello-00001-")
        assert {k: meta["labels"][k] for k in (
            "serving.knative.dev/revision", "serving.knative.dev/service", "app")} == {
            "serving.knative.dev/revision": "hello-00001",
            "serving.knative.dev/service": "hello", "app": "hello-00001"}
        (owner,) = meta["ownerReferences"]
        assert (owner["kind"], owner["uid"]) == ("Revision", revision["metadata"]["uid"])
        status = pod["status"]
        assert status["podIP"] == "127.0.0.1"
        assert status["containerStatuses"][0]["ready"] is True
        assert status["containerStatuses"][0]["restartCount"] == 0
        assert {c["type"]: c["status"] for c in status["conditions"]} == {
            "Ready": "True", "ContainersReady": "True"}
        port = int(instance.address.rpartition(":")[2])
        assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == port

        crashing = await runtime.start(InstanceSpec(
            revision="default/hello-00001", namespace="default", service="hello",
            configuration="hello", container={**container, "env": [
                {"name": "CRASH", "value": "1"}]}, env={}))
        pods = await pods_until(client, lambda pods: sorted(phase(pods)) == [
            "Failed", "Running"])
        failed = next(p for p in pods if p["metadata"]["name"] == crashing.id)
        assert failed["status"]["containerStatuses"][0]["state"]["terminated"][
            "exitCode"] == 3

        await runtime.stop(crashing.id, grace=2)
        await pods_until(client, lambda pods: phase(pods) == ["Running"])
    finally:
        await runtime.close(grace=2)
        await publisher.close()
    assert (await client.list(PODS, "default")).items == []


async def test_pods_left_by_an_earlier_run_are_removed(api_server: Any) -> None:
    client = InProcessClient(api_server.registry)
    await client.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "hello-00001-deadbeef", "namespace": "default",
        "labels": {"app.kubernetes.io/managed-by": "shoal"}}})
    await client.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "somebody-elses", "namespace": "default"}})
    assert await PodPublisher(client, {}).remove_all() == 1
    assert [p["metadata"]["name"] for p in (await client.list(PODS, "default")).items] == [
        "somebody-elses"]
