"""Shared informers: one list-and-watch per resource, however many controllers read it.

The ``Manager`` owns one ``InformerFactory``; each controller asks it for the informers of
its own resource and of the resources it watches, and reconcilers ask it for the caches
they read (a Configuration reconciler reads the Revision cache that the Revision controller
also uses). As client-go's ``SharedInformerFactory``: informers are created on first
request, ``start()`` starts those not yet running, ``stop()`` stops them all.
"""

from __future__ import annotations

import asyncio

from shoal.api.types import ResourceType
from shoal.client.base import Client
from shoal.controllers.clock import Clock, SystemClock
from shoal.controllers.informer import DEFAULT_RESYNC, Informer


class InformerFactory:
    def __init__(
        self,
        client: Client,
        *,
        clock: Clock | None = None,
        resync_period: float | None = DEFAULT_RESYNC,
        backoff_initial: float = 0.2,
        backoff_max: float = 30.0,
    ) -> None:
        self.client = client
        self.clock: Clock = clock or SystemClock()
        self.resync_period = resync_period
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._informers: dict[tuple[str, str | None, str], Informer] = {}

    def informer(
        self, rt: ResourceType, namespace: str | None = None, label_selector: str = ""
    ) -> Informer:
        """The informer of ``rt`` (in ``namespace``, matching ``label_selector``)."""
        key = (rt.key, namespace, label_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(
                self.client,
                rt,
                namespace,
                label_selector,
                resync_period=self.resync_period,
                clock=self.clock,
                backoff_initial=self.backoff_initial,
                backoff_max=self.backoff_max,
            )
            self._informers[key] = informer
        return informer

    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        for informer in self._informers.values():
            informer.start()

    async def wait_synced(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            for informer in list(self._informers.values()):
                await informer.wait_synced()

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
