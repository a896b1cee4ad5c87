"""``SupervisedRuntime``: what the process and container runtimes share.

Both give every instance a free loopback port and an id ``REVISION-XXXXXXXX``, run it under
a ``Supervisor`` with the container's readiness and liveness probes, keep the supervisors
in an ``InstanceTable`` and answer ``stop``, ``list``, ``subscribe`` and ``close`` from it.
A subclass says how one instance runs (``_driver``: a process group, a container) and where
its output is read back from (``_log_lines``).
"""

from __future__ import annotations

import builtins
import contextlib
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable

from shoal.runtime.backoff import CrashBackoff
from shoal.runtime.base import Instance, InstanceSpec
from shoal.runtime.clock import Clock, SystemClock
from shoal.runtime.instances import InstanceTable
from shoal.runtime.ports import PortPool
from shoal.runtime.probes import liveness_probe, readiness_probe
from shoal.runtime.supervisor import Driver, Supervisor


class SupervisedRuntime(ABC):
    name: str

    def __init__(self, *, clock: Clock | None, backoff: Callable[[], CrashBackoff],
                 restart_grace: float) -> None:
        self._clock = clock or SystemClock()
        self._backoff = backoff
        self._restart_grace = restart_grace
        self._ports = PortPool()
        self._table = InstanceTable()

    @abstractmethod
    def _driver(self, instance_id: str, spec: InstanceSpec, port: int) -> Driver:
        """The driver of a new instance listening on ``port`` of the loopback host."""

    @abstractmethod
    def _log_lines(self, instance_id: str, *, follow: bool,
                   tail: int | None) -> AsyncGenerator[str, None]:
        """The output of an instance this runtime runs."""

    async def start(self, spec: InstanceSpec) -> Instance:
        if self._table.closed:
            raise RuntimeError("the runtime is closed")
        instance_id = f"{spec.revision_name}-{secrets.token_hex(4)}"
        while instance_id in self._table:
            instance_id = f"{spec.revision_name}-{secrets.token_hex(4)}"
        port = self._ports.take()
        instance = Instance(id=instance_id, revision=spec.revision, runtime=self.name,
                            address=f"{self._ports.host}:{port}")
        supervisor = Supervisor(
            instance, self._driver(instance_id, spec, port),
            readiness=readiness_probe(spec.container, spec.serves),
            liveness=liveness_probe(spec.container), clock=self._clock,
            on_change=self._table.changed, backoff=self._backoff(),
            restart_grace=self._restart_grace)
        self._table.add(instance_id, supervisor)
        return supervisor.instance

    async def stop(self, instance_id: str, grace: float = 30.0) -> None:
        await self._table.stop(instance_id, grace)

    def list(self, revision: str | None = None) -> builtins.list[Instance]:
        return self._table.list(revision)

    def subscribe(self, callback: Callable[[Instance], None]) -> Callable[[], None]:
        return self._table.subscribe(callback)

    async def logs(self, instance_id: str, *, follow: bool = False,
                   tail: int | None = None) -> AsyncGenerator[str, None]:
        """The instance's output; ``follow`` ends when the instance stops."""
        self._table.get(instance_id)  # raises UnknownInstance
        lines = self._log_lines(instance_id, follow=follow, tail=tail)
        async with contextlib.aclosing(lines):
            async for line in lines:
                yield line

    async def close(self, grace: float = 30.0) -> None:
        await self._table.close(grace)
