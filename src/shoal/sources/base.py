"""What every source reconciler shares: the sink, the CloudEvents overrides, the sender.

A source resolves ``spec.sink`` into ``status.sinkUri`` and marks ``SinkProvided`` as
Knative's source lifecycles do (False with the resolver's reason while the sink cannot be
resolved; the referent is tracked, so the source comes back when it appears). ``Sender``
posts the events of the in-process adapters (ping, apiserver) with the retries Knative's
adapters use: five retries, exponential backoff from 50 ms (sdk-go's
``ContextWithRetriesExponentialBackoff(ctx, 50ms, 5)``). Replies are ignored, as a source
has no use for them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.sources.base import SourceSpec, SourceStatus
from shoal.controllers.clock import Clock
from shoal.controllers.conditions import ConditionManager
from shoal.controllers.reconciler import Watch
from shoal.controllers.resolver import DestinationResolver, ResolveError
from shoal.controllers.tracker import Tracker
from shoal.eventing.backoff import EXPONENTIAL, RetryPolicy
from shoal.eventing.delivery import Deliverer, DeliveryResult
from shoal.eventing.event import CloudEvent
from shoal.eventing.httpclient import HTTPClient

SINK_PROVIDED = "SinkProvided"
ADAPTER_POLICY = RetryPolicy(retry=5, backoff_policy=EXPONENTIAL, backoff_delay=0.05)
ADDRESSABLE_KINDS = ("services", "brokers", "channels", "inmemorychannels", "sequences",
                     "parallels")


def sink_watches(tracker: Tracker, kinds: Iterable[str] = ADDRESSABLE_KINDS) -> tuple[Watch, ...]:
    """Watches that bring a source back when the sink it tracks changes."""
    catalog = default_catalog()
    return tuple(Watch(catalog.require(kind), tracker.mapper(catalog.require(kind)))
                 for kind in kinds)


async def resolve_sink(resolver: DestinationResolver, spec: SourceSpec, namespace: str,
                       key: str, status: SourceStatus, conditions: ConditionManager,
                       condition: str = SINK_PROVIDED) -> str | None:
    """Resolve ``spec.sink`` into ``status.sinkUri``; None (and ``condition`` False) if it
    cannot be resolved yet."""
    try:
        uri = await resolver.resolve(spec.sink, namespace, by=key)
    except ResolveError as err:
        status.sink_uri = None
        conditions.mark_false(condition, "NotFound" if err.reason == "DestinationNotFound"
                              else err.reason, err.message)
        return None
    if not uri:
        status.sink_uri = None
        conditions.mark_false(condition, "SinkEmpty", "Sink has resolved to empty.")
        return None
    status.sink_uri = uri
    conditions.mark_true(condition)
    return uri


def extensions(spec: SourceSpec) -> dict[str, str]:
    """``spec.ceOverrides.extensions``, or nothing."""
    overrides = spec.ce_overrides
    return dict(overrides.extensions or {}) if overrides is not None else {}


def ce_overrides_json(spec: SourceSpec) -> str:
    """``K_CE_OVERRIDES``: the JSON of ``spec.ceOverrides``, empty when there is none."""
    if spec.ce_overrides is None:
        return ""
    return json.dumps(spec.ce_overrides.dump(), separators=(",", ":"), sort_keys=True)


def event_time(clock: Clock) -> str:
    """The ``time`` attribute: RFC 3339 in UTC with microseconds."""
    return clock.now().isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_event(type: str, source: str, clock: Clock, **attributes: Any) -> CloudEvent:
    """A CloudEvents 1.0 event with a fresh id and the current time (as sdk-go's client
    stamps them)."""
    attrs: dict[str, Any] = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": source,
                             "type": type, "time": event_time(clock)}
    attrs.update(attributes)
    return CloudEvent(attrs)


class Sender:
    """Posts adapter events to sinks over one shared connection pool."""

    def __init__(self, clock: Clock, policy: RetryPolicy = ADAPTER_POLICY) -> None:
        self.policy = policy
        self._client = HTTPClient()
        self._deliverer = Deliverer(self._client, clock)

    async def send(self, event: CloudEvent, sink: str) -> DeliveryResult:
        return await self._deliverer.deliver(event, sink, self.policy, strict_reply=False)

    async def close(self) -> None:
        await self._client.close()
