"""The instances one runtime supervises, and the callbacks to tell when one changes.

Both runtimes keep their supervisors here (through ``SupervisedRuntime``) and delegate
``list``, ``subscribe``, ``stop`` and ``close`` to it. A supervisor's change is handed to
every subscriber in turn (a subscriber that raises is logged, never allowed to break the
instance's loop); a ``STOPPED`` instance leaves the table before the subscribers hear of it.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable

from shoal.runtime.base import Instance, InstanceState, UnknownInstance
from shoal.runtime.supervisor import Supervisor

log = logging.getLogger(__name__)


class InstanceTable:
    def __init__(self) -> None:
        self._supervisors: dict[str, Supervisor] = {}
        self._subscribers: list[Callable[[Instance], None]] = []
        self.closed = False

    def __contains__(self, instance_id: str) -> bool:
        return instance_id in self._supervisors

    def add(self, instance_id: str, supervisor: Supervisor) -> None:
        if self.closed:
            raise RuntimeError("the runtime is closed")
        self._supervisors[instance_id] = supervisor
        supervisor.start()

    def get(self, instance_id: str) -> Supervisor:
        try:
            return self._supervisors[instance_id]
        except KeyError:
            raise UnknownInstance(instance_id) from None

    def changed(self, instance: Instance) -> None:
        """The supervisors' ``on_change``: forget stopped instances, tell the subscribers."""
        if instance.state is InstanceState.STOPPED:
            self._supervisors.pop(instance.id, None)
        for callback in list(self._subscribers):
            try:
                callback(instance)
            except Exception:  # a subscriber's bug must not stop an instance's loop
                log.exception("instance subscriber failed on %s", instance.id)

    def list(self, revision: str | None = None) -> builtins.list[Instance]:
        instances = [s.instance for s in self._supervisors.values()]
        return [i for i in instances if revision is None or i.revision == revision]

    def subscribe(self, callback: Callable[[Instance], None]) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    async def stop(self, instance_id: str, grace: float) -> None:
        supervisor = self._supervisors.get(instance_id)
        if supervisor is not None:
            await supervisor.stop(grace)

    async def close(self, grace: float) -> None:
        """Refuse new instances, then stop every one at once."""
        self.closed = True
        await asyncio.gather(*(s.stop(grace) for s in list(self._supervisors.values())))
