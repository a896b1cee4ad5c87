"""An informer: list, then watch, keeping a local cache of one resource and telling handlers.

Controllers (through ``InformerFactory``) run one ``Informer`` per resource they read. It
behaves as client-go's reflector plus shared informer:

- **list** the resource, fill the cache, mark itself synced, then **watch** from the list's
  ``resourceVersion``;
- on **Gone** (410: the change log no longer reaches back to that version) **relist** and
  tell the handlers what changed in between, objects that vanished arriving as deletions;
- when the watch ends or fails, **reconnect** from the last ``resourceVersion`` seen
  (``BOOKMARK`` events move it too), backing off exponentially while nothing gets through;
- every ``resync_period`` seconds re-notify every cached object (type ``SYNC``), so a
  level-triggered controller revisits everything even if it dropped a key.

Handlers are plain callables taking an ``InformerEvent``; they run on the informer's task
and must be quick (put a key on a work queue, not call the API). Objects handed to them
and kept in the cache are shared, never to be changed in place.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from shoal.api.errors import ApiError, Gone
from shoal.api.types import ResourceType
from shoal.client.base import Client, WatchEvent
from shoal.controllers.cache import Obj, ObjectCache, object_key, resource_version
from shoal.controllers.clock import Clock, SystemClock

log = logging.getLogger(__name__)

EventType = Literal["ADDED", "MODIFIED", "DELETED", "SYNC"]
DEFAULT_RESYNC = 600.0
_HEALTHY_WATCH = 1.0  # seconds a watch must stay open to count as healthy


@dataclass(frozen=True)
class InformerEvent:
    """A change seen by an informer. ``old`` is the cached object before an update."""

    type: EventType
    obj: Obj
    old: Obj | None = None

    @property
    def key(self) -> str:
        return object_key(self.obj)


Handler = Callable[[InformerEvent], None]


class Informer:
    def __init__(
        self,
        client: Client,
        rt: ResourceType,
        namespace: str | None = None,
        label_selector: str = "",
        *,
        resync_period: float | None = DEFAULT_RESYNC,
        clock: Clock | None = None,
        backoff_initial: float = 0.2,
        backoff_max: float = 30.0,
        watch_timeout: int | None = None,
    ) -> None:
        self.client = client
        self.rt = rt
        self.namespace = namespace
        self.label_selector = label_selector
        self.resync_period = resync_period
        self.clock: Clock = clock or SystemClock()
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.watch_timeout = watch_timeout
        self.cache = ObjectCache()
        self.last_resource_version = ""
        self.lists = 0  # how many times the informer listed (1 + relists)
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._progress = False

    def __repr__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"<Informer {self.rt.qualified}{where}>"

    # -- reading ---------------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Return once the first list is in the cache; ``TimeoutError`` after ``timeout``."""
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def list(self, namespace: str | None = None) -> list[Obj]:
        return self.cache.list(namespace)

    def by_owner(self, uid: str) -> builtins.list[Obj]:
        return self.cache.by_owner(uid)

    # -- handlers --------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Subscribe; a handler added after sync first hears every cached object as ADDED."""
        self._handlers.append(handler)
        if self.has_synced:
            for obj in self.cache.list():
                self._call(handler, InformerEvent("ADDED", obj))

    def _dispatch(self, event: InformerEvent) -> None:
        for handler in list(self._handlers):
            self._call(handler, event)

    def _call(self, handler: Handler, event: InformerEvent) -> None:
        try:
            handler(event)
        except Exception:
            log.exception("%r: handler failed on %s %s", self, event.type, event.key)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Start listing and watching in background tasks (idempotent)."""
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self.run(), name=f"informer {self.rt.plural}"))
        if self.resync_period:
            self._tasks.append(
                asyncio.create_task(
                    self._resync_loop(self.resync_period), name=f"resync {self.rt.plural}"
                )
            )

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def run(self) -> None:
        """List and watch until cancelled."""
        needs_list = True
        delay = self.backoff_initial
        while True:
            self._progress = False
            listed = gone = False
            watch_started: float | None = None
            try:
                if needs_list:
                    await self._relist()
                    needs_list, listed = False, True
                watch_started = self.clock.monotonic()
                await self._watch()
                log.debug("%r: watch ended at %s", self, self.last_resource_version)
            except Gone:
                log.info(
                    "%r: resourceVersion %s is gone, relisting", self, self.last_resource_version
                )
                needs_list = gone = True
            except Exception as err:
                log.warning("%r: list/watch failed, retrying in %.1fs: %s", self, delay, err)
            # A watch that delivered events or stayed open a while was healthy: reconnect at
            # once. So does a 410 that did not come straight after a list.
            healthy = self._progress or (
                watch_started is not None
                and self.clock.monotonic() - watch_started >= _HEALTHY_WATCH
            )
            if healthy or (gone and not listed):
                delay = self.backoff_initial
                continue
            await self.clock.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    # -- list and watch --------------------------------------------------------------------

    async def _relist(self) -> None:
        result = await self.client.list(self.rt, self.namespace, label_selector=self.label_selector)
        self.lists += 1
        fresh = {object_key(obj): obj for obj in result.items}
        events: list[InformerEvent] = []
        for key, obj in fresh.items():
            old = self.cache.get(key)
            if old is None:
                events.append(InformerEvent("ADDED", obj))
            elif resource_version(old) != resource_version(obj):
                events.append(InformerEvent("MODIFIED", obj, old))
        for key in self.cache:
            if key not in fresh:
                gone_obj = self.cache.get(key)
                assert gone_obj is not None
                events.append(InformerEvent("DELETED", gone_obj, gone_obj))
        self.cache.replace(fresh.values())
        self.last_resource_version = result.resource_version
        self._synced.set()
        for event in events:
            self._dispatch(event)

    async def _watch(self) -> None:
        stream = self.client.watch(
            self.rt,
            self.namespace,
            resource_version=self.last_resource_version,
            label_selector=self.label_selector,
            timeout_seconds=self.watch_timeout,
        )
        try:
            async for event in stream:
                self._apply(event)
        finally:
            await _aclose(stream)

    def _apply(self, event: WatchEvent) -> None:
        obj = event.object
        if event.type == "ERROR":
            raise ApiError.from_status(obj, int(obj.get("code") or 500))
        rv = resource_version(obj)
        if event.type == "BOOKMARK":
            if rv:
                self.last_resource_version = rv
            self._progress = True
            return
        key = object_key(obj)
        if event.type in ("ADDED", "MODIFIED"):
            old = self.cache.put(obj)
            if old is None:
                self._dispatch(InformerEvent("ADDED", obj))
            elif resource_version(old) != rv or not rv:
                self._dispatch(InformerEvent("MODIFIED", obj, old))
        elif event.type == "DELETED":
            old = self.cache.remove(key)
            self._dispatch(InformerEvent("DELETED", obj, old))
        else:
            log.warning("%r: ignoring watch event of type %r", self, event.type)
        if rv:
            self.last_resource_version = rv
        self._progress = True

    async def _resync_loop(self, period: float) -> None:
        await self._synced.wait()
        while True:
            await self.clock.sleep(period)
            for obj in self.cache.list():
                self._dispatch(InformerEvent("SYNC", obj, obj))


async def _aclose(stream: AsyncIterator[Any]) -> None:
    if isinstance(stream, AsyncGenerator):
        await stream.aclose()
