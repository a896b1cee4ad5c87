"""EventType recording: each (type, source) a broker sees becomes an EventType object.

The ingress calls ``observe`` for every event it accepts; the first time a broker sees a
(type, source) pair, an ``eventing.knative.dev/v1beta2`` EventType is created in the
broker's namespace, referencing and owned by the broker (so it goes when the broker goes).
Creation happens in the background and never slows or fails the ingress.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.errors import AlreadyExists, ApiError
from shoal.client.base import Client
from shoal.eventing.event import CloudEvent

log = logging.getLogger("shoal.eventing.eventtypes")

EVENTTYPES = default_catalog().require("eventtypes")


def eventtype_name(broker: str, type_: str, source: str) -> str:
    digest = hashlib.sha256(f"{broker}\0{type_}\0{source}".encode()).hexdigest()[:16]
    return f"et-{broker[:40]}-{digest}".lower()


class EventTypeRecorder:
    def __init__(self, client: Client) -> None:
        self.client = client
        self._seen: set[tuple[str, str, str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def observe(self, namespace: str, broker: dict[str, Any], event: CloudEvent) -> None:
        name = broker["metadata"]["name"]
        key = (namespace, name, event.type, event.source)
        if key in self._seen:
            return
        self._seen.add(key)
        task = asyncio.get_running_loop().create_task(self._create(namespace, broker, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _create(self, namespace: str, broker: dict[str, Any], event: CloudEvent) -> None:
        meta = broker["metadata"]
        obj = {
            "apiVersion": EVENTTYPES.api_version, "kind": EVENTTYPES.kind,
            "metadata": {
                "name": eventtype_name(meta["name"], event.type, event.source),
                "namespace": namespace,
                "labels": {"eventing.knative.dev/broker": meta["name"]},
                "ownerReferences": [{"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                     "name": meta["name"], "uid": meta["uid"]}],
            },
            "spec": {
                "type": event.type,
                "source": event.source,
                "reference": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                              "name": meta["name"]},
                "description": f"Event type seen on broker {meta['name']}",
            },
        }
        try:
            await self.client.create(EVENTTYPES, obj)
        except AlreadyExists:
            return
        except ApiError as exc:
            self._seen.discard((namespace, meta["name"], event.type, event.source))
            log.warning("recording event type %s failed: %s", event.type, exc)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
