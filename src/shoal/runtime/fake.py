"""A runtime that runs nothing: the fake beside the ``Runtime`` seam, for callers' tests.

``FakeRuntime`` keeps instance records and tells its subscribers of every change, as the
real runtimes do, but starts no program. By default an instance turns ``READY`` on the next
turn of the event loop after ``start``; with ``auto_ready=False`` the test moves it with
``set_ready``, ``crash`` (``FAILED`` with ``ExitCode<N>``, a restart counted) or
``set_state``. ``started`` and ``stopped`` record what was asked for; ``write_log`` feeds
what ``logs`` returns.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import itertools
from collections.abc import AsyncGenerator, Callable

from shoal.runtime.base import (
    PROCESS,
    REASON_READY,
    REASON_STARTING,
    REASON_STOPPED,
    Instance,
    InstanceSpec,
    InstanceState,
    UnknownInstance,
    exit_reason,
)


class FakeRuntime:
    def __init__(self, name: str = PROCESS, *, auto_ready: bool = True) -> None:
        self.name = name
        self.auto_ready = auto_ready
        self.started: list[InstanceSpec] = []
        self.stopped: list[tuple[str, float]] = []
        self.closed = False
        self._instances: dict[str, Instance] = {}
        self._logs: dict[str, list[str]] = {}
        self._subscribers: list[Callable[[Instance], None]] = []
        self._ports = itertools.count(20000)
        self._ids = itertools.count(1)

    async def start(self, spec: InstanceSpec) -> Instance:
        if self.closed:
            raise RuntimeError("the runtime is closed")
        self.started.append(spec)
        instance = Instance(id=f"{spec.revision_name}-{next(self._ids):05d}",
                            revision=spec.revision, runtime=self.name,
                            address=f"127.0.0.1:{next(self._ports)}")
        self._instances[instance.id] = instance
        self._logs[instance.id] = []
        self._notify(instance)
        if self.auto_ready:
            asyncio.get_running_loop().call_soon(self._auto_ready, instance.id)
        return dataclasses.replace(instance)

    def _auto_ready(self, instance_id: str) -> None:
        instance = self._instances.get(instance_id)
        if instance is not None and instance.state is InstanceState.STARTING:
            self.set_ready(instance_id)

    async def stop(self, instance_id: str, grace: float = 30.0) -> None:
        instance = self._instances.pop(instance_id, None)
        if instance is None:
            return
        self.stopped.append((instance_id, grace))
        instance.state, instance.reason, instance.message = (
            InstanceState.STOPPED, REASON_STOPPED, "")
        self._notify(instance)

    def list(self, revision: str | None = None) -> builtins.list[Instance]:
        return [dataclasses.replace(i) for i in self._instances.values()
                if revision is None or i.revision == revision]

    def subscribe(self, callback: Callable[[Instance], None]) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    async def logs(self, instance_id: str, *, follow: bool = False,
                   tail: int | None = None) -> AsyncGenerator[str, None]:
        if instance_id not in self._logs:
            raise UnknownInstance(instance_id)
        lines = self._logs[instance_id]
        start = 0 if tail is None else max(len(lines) - tail, 0)
        for line in lines[start:]:
            yield line

    async def close(self) -> None:
        for instance_id in list(self._instances):
            await self.stop(instance_id)
        self.closed = True

    # -- for tests ----------------------------------------------------------------------

    def set_state(self, instance_id: str, state: InstanceState, *, reason: str = "",
                  message: str = "", exit_code: int | None = None) -> None:
        instance = self._instances[instance_id]
        instance.state, instance.reason, instance.message, instance.exit_code = (
            state, reason or state.value, message, exit_code)
        self._notify(instance)

    def set_ready(self, instance_id: str) -> None:
        self.set_state(instance_id, InstanceState.READY, reason=REASON_READY)

    def crash(self, instance_id: str, exit_code: int = 1) -> None:
        """The program exited: ``FAILED`` now, restarted (``STARTING``) by ``restart``."""
        self.set_state(instance_id, InstanceState.FAILED, reason=exit_reason(exit_code),
                       exit_code=exit_code)

    def restart(self, instance_id: str) -> None:
        self._instances[instance_id].restarts += 1
        self.set_state(instance_id, InstanceState.STARTING, reason=REASON_STARTING)

    def write_log(self, instance_id: str, line: str) -> None:
        self._logs[instance_id].append(line)

    def _notify(self, instance: Instance) -> None:
        for callback in list(self._subscribers):
            callback(dataclasses.replace(instance))
