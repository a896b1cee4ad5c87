"""Watches: the store's changes of one resource, from a resourceVersion on.

Used by the HTTP watch handler and by the in-process client. A watch with no
resourceVersion (or "0") starts with an ADDED event for every current object; one with a
resourceVersion replays the change log after it, or raises ``Gone`` when the log no longer
reaches back that far. Then it follows live changes. Registering for live changes and
reading the backlog happen with no ``await`` between them, so no change falls in a gap.

With a selector, a change is sent only when the object matches. A watcher that falls more
than ``max_queue`` changes behind is ended; its client resumes from the last version it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

from shoal.api.errors import Gone
from shoal.api.types import ResourceType
from shoal.store import ADDED, Change, Expired, Store

Obj = dict[str, Any]
BOOKMARK = "BOOKMARK"


async def watch(store: Store, rt: ResourceType, namespace: str | None, resource_version: str,
                predicate: Callable[[Obj], bool] | None = None, *,
                bookmark_interval: float | None = None, timeout: float | None = None,
                max_queue: int = 50_000) -> AsyncGenerator[tuple[str, Obj], None]:
    queue: asyncio.Queue[Change | None] = asyncio.Queue()
    overflowed = False

    def on_change(change: Change) -> None:
        nonlocal overflowed
        if change.resource != rt.key or (namespace is not None and change.namespace != namespace):
            return
        if queue.qsize() >= max_queue:
            overflowed = True
            queue.put_nowait(None)
            return
        queue.put_nowait(change)

    unsubscribe = store.subscribe(on_change)
    try:
        if resource_version in ("", "0"):
            last = store.revision
            backlog: list[tuple[str, Obj]] = [
                (ADDED, json.loads(raw)) for raw in store.list_raw(rt.key, namespace)]
        else:
            try:
                last = int(resource_version)
            except ValueError:
                raise Gone(f"invalid resource version {resource_version!r}") from None
            try:
                changes = store.changes_since(last, rt.key)
            except Expired as exc:
                raise Gone(f"too old resource version: {exc.requested} "
                           f"({exc.oldest + 1})") from None
            backlog = []
            for change in changes:
                if namespace is None or change.namespace == namespace:
                    backlog.append((change.type, change.object()))
                last = change.rv
        for kind, obj in backlog:
            if predicate is None or predicate(obj):
                yield kind, obj
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            wait = bookmark_interval
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                wait = remaining if wait is None else min(wait, remaining)
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a
                # cancellation that arrives as the queue hands out an item.
                async with asyncio.timeout(wait):
                    item = await queue.get()
            except TimeoutError:
                if bookmark_interval is not None and (
                        deadline is None or loop.time() < deadline):
                    yield BOOKMARK, {"kind": rt.kind, "apiVersion": rt.api_version,
                                     "metadata": {"resourceVersion": str(store.revision)}}
                continue
            if item is None:
                if overflowed:
                    return
                continue
            if item.rv <= last:
                continue
            last = item.rv
            obj = item.object()
            if predicate is None or predicate(obj):
                yield item.type, obj
    finally:
        with contextlib.suppress(Exception):
            unsubscribe()
