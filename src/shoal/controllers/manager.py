"""Runs a set of controllers over shared informers, started and stopped in a fixed order.

``shoal up`` (or a standalone controller process) builds one ``Manager`` over a ``Client``,
``add``s one reconciler per kind, and awaits ``start()``; ``stop()`` on the way down.
Start: informers first, wait until every one has synced (so no reconciler acts on a
half-filled cache and creates children that already exist), then the workers. Stop: stop
taking keys and finish the ones in flight within a deadline, then stop the informers.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from shoal.client.base import Client
from shoal.controllers.clock import Clock, SystemClock
from shoal.controllers.engine import Controller
from shoal.controllers.events import EventRecorder
from shoal.controllers.factory import InformerFactory
from shoal.controllers.informer import DEFAULT_RESYNC
from shoal.controllers.reconciler import Reconciler


class Manager:
    def __init__(
        self,
        client: Client,
        *,
        clock: Clock | None = None,
        resync_period: float | None = DEFAULT_RESYNC,
        component: str = "shoal-controller",
        recorder: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self.clock: Clock = clock or SystemClock()
        self.informers = InformerFactory(client, clock=self.clock, resync_period=resync_period)
        self.recorder = recorder or EventRecorder(client, component, clock=self.clock)
        self.controllers: list[Controller] = []

    def add(
        self, reconciler: Reconciler[Any], *, workers: int = 2, namespace: str | None = None
    ) -> Controller:
        controller = Controller(
            self.client,
            reconciler,
            informers=self.informers,
            clock=self.clock,
            workers=workers,
            namespace=namespace,
            recorder=self.recorder,
        )
        self.controllers.append(controller)
        return controller

    async def start(self, timeout: float | None = None) -> None:
        """Start every informer, wait for all to sync, then start every controller."""
        self.informers.start()
        await self.informers.wait_synced(timeout)
        for controller in self.controllers:
            await controller.start()

    async def stop(self, timeout: float | None = 10.0) -> None:
        """Drain the controllers (in-flight keys get ``timeout`` seconds), then the
        informers."""
        await asyncio.gather(*(c.stop(timeout) for c in self.controllers))
        await self.informers.stop()

    async def __aenter__(self) -> Manager:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
