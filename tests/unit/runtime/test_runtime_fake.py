"""FakeRuntime behaves as the Runtime seam promises, without running anything."""

from __future__ import annotations

import asyncio

import pytest

from shoal.runtime import FakeRuntime, Instance, InstanceSpec, InstanceState, Runtime
from shoal.runtime.base import UnknownInstance

SPEC = InstanceSpec(revision="default/hello-00001", namespace="default", service="hello",
                    configuration="hello", container={"command": ["app"]}, env={})


async def test_starts_then_ready_on_the_next_turn() -> None:
    runtime: Runtime = FakeRuntime()
    seen: list[Instance] = []
    unsubscribe = runtime.subscribe(seen.append)
    instance = await runtime.start(SPEC)
    assert instance.state is InstanceState.STARTING
    assert instance.address.startswith("127.0.0.1:")
    await asyncio.sleep(0)
    assert [i.state for i in seen] == [InstanceState.STARTING, InstanceState.READY]
    assert runtime.list("default/hello-00001")[0].ready
    assert runtime.list("default/other") == []
    unsubscribe()
    await runtime.close()
    assert len(seen) == 2
    assert runtime.list() == []


async def test_driven_by_the_test() -> None:
    runtime = FakeRuntime("podman", auto_ready=False)
    seen: list[Instance] = []
    runtime.subscribe(seen.append)
    instance = await runtime.start(SPEC)
    await asyncio.sleep(0)
    assert runtime.list()[0].state is InstanceState.STARTING
    runtime.crash(instance.id, 3)
    assert (seen[-1].state, seen[-1].reason, seen[-1].exit_code) == (
        InstanceState.FAILED, "ExitCode3", 3)
    runtime.restart(instance.id)
    runtime.set_ready(instance.id)
    assert runtime.list()[0].restarts == 1
    runtime.write_log(instance.id, "a")
    runtime.write_log(instance.id, "b")
    assert [line async for line in runtime.logs(instance.id, tail=1)] == ["b"]
    await runtime.stop(instance.id, grace=5)
    await runtime.stop(instance.id)  # already gone: nothing to do
    assert runtime.stopped == [(instance.id, 5)]
    assert seen[-1].state is InstanceState.STOPPED
    assert runtime.started == [SPEC]
    with pytest.raises(UnknownInstance):
        [line async for line in runtime.logs("nope")]
