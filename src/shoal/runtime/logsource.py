"""The logs of every runtime's instances, looked up by revision: what the API server's log
endpoint reads (``shoal up`` plugs one in for the runtimes of its serving plane)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from shoal.runtime.base import InstanceState, Runtime, UnknownInstance


class RuntimeLogs:
    def __init__(self, runtimes: Mapping[str, Runtime]) -> None:
        self.runtimes = runtimes  # read at each call: runtimes may be added after start

    def instances(self, revision: str) -> list[str]:
        """The ids of ``revision``'s instances that have not stopped, in start order."""
        found = [i for runtime in self.runtimes.values() for i in runtime.list(revision)
                 if i.state is not InstanceState.STOPPED]
        found.sort(key=lambda i: (i.started_at, i.id))
        return [i.id for i in found]

    def logs(self, instance_id: str, *, follow: bool = False,
             tail: int | None = None) -> AsyncIterator[str]:
        for runtime in self.runtimes.values():
            if any(i.id == instance_id for i in runtime.list()):
                return runtime.logs(instance_id, follow=follow, tail=tail)
        raise UnknownInstance(instance_id)
