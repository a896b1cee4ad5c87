"""PingSource: a fixed event sent to a sink on a cron schedule, in-process.

``PingScheduler`` is the adapter (Knative's ``mtping``): one timer per PingSource on the
injected ``Clock``, armed for the schedule's next fire time in its time zone; when it fires,
the event is sent (with the adapter retries of ``base.Sender``) and the timer is armed for
the fire time after that. As in Knative, ticks that fall while Shoal is down (or while the
source has no sink) are not caught up: after a start the first tick is the next one from
now. ``make_event`` builds the event (type ``dev.knative.sources.ping``, source
``/apis/v1/namespaces/NS/pingsources/NAME``, a new id each tick, the ``ceOverrides``
extensions). ``PingSourceReconciler`` resolves the sink, keeps the scheduler in step with
each source and reports Knative's conditions (``SinkProvided``, ``Deployed``, ``Ready``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from shoal.api.catalog import default_catalog
from shoal.api.sources.base import CloudEventAttributes, SourceStatus
from shoal.api.sources.cron import CronError, Schedule
from shoal.api.sources.ping import JSON, PingSource, schedule
from shoal.controllers.clock import Clock, Timer
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult
from shoal.controllers.resolver import DestinationResolver
from shoal.controllers.tracker import Tracker
from shoal.eventing.event import CloudEvent
from shoal.sources.base import SINK_PROVIDED, event_time, extensions, resolve_sink, sink_watches

log = logging.getLogger("shoal.sources.ping")

PING_EVENT_TYPE = "dev.knative.sources.ping"
DEPLOYED = "Deployed"
PING_CONDITIONS = ConditionSet("Ready", [SINK_PROVIDED, DEPLOYED])

Send = Callable[[CloudEvent, str], Awaitable[object]]


def ping_source(namespace: str, name: str) -> str:
    """The ``source`` attribute of a PingSource's events."""
    return f"/apis/v1/namespaces/{namespace}/pingsources/{name}"


def make_event(obj: PingSource) -> CloudEvent:
    """The event of one PingSource, without id and time (stamped at each tick).

    ``data`` is sent as written (compacted when ``contentType`` is JSON), ``dataBase64`` as
    the bytes it encodes; ``datacontenttype`` is ``contentType`` when given; ``ceOverrides``
    extensions are set last, as Knative sets them.
    """
    spec = obj.spec
    attrs: dict[str, object] = {"specversion": "1.0",
                                "source": ping_source(obj.namespace, obj.name),
                                "type": PING_EVENT_TYPE}
    data: bytes | None = None
    if spec.data_base64:
        data = base64.b64decode(spec.data_base64)
    elif spec.data:
        data = spec.data.encode()
        if spec.content_type == JSON:  # re-encoded compactly, as sdk-go marshals it
            data = json.dumps(json.loads(spec.data), separators=(",", ":")).encode()
    if data is not None and spec.content_type:
        attrs["datacontenttype"] = spec.content_type
    attrs.update(extensions(spec))
    return CloudEvent(attrs, data)


@dataclass(frozen=True)
class PingJob:
    """What one PingSource sends, where, and when."""

    schedule: Schedule
    event: CloudEvent = field(compare=False)
    event_record: bytes  # compares the event's content
    sink: str

    @classmethod
    def of(cls, schedule: Schedule, event: CloudEvent, sink: str) -> PingJob:
        return cls(schedule, event, event.to_record(), sink)


class _Entry:
    def __init__(self, job: PingJob) -> None:
        self.job = job
        self.timer: Timer | None = None
        self.due: datetime | None = None


class PingScheduler:
    """Fires each PingSource's event on its schedule; time comes from ``clock``."""

    def __init__(self, clock: Clock, send: Send) -> None:
        self.clock = clock
        self.send = send
        self._entries: dict[str, _Entry] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def next_fire(self, key: str) -> datetime | None:
        entry = self._entries.get(key)
        return entry.due if entry is not None else None

    def set(self, key: str, job: PingJob) -> None:
        """Run ``job`` for ``key`` (in place of what ran before; unchanged jobs keep their
        timer). The first tick is the next fire time from now."""
        if self._closed:
            return
        entry = self._entries.get(key)
        if entry is not None and entry.job == job:
            return
        self.remove(key)
        entry = self._entries[key] = _Entry(job)
        self._arm(key, entry, self.clock.now())

    def remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and entry.timer is not None:
            entry.timer.cancel()

    def _arm(self, key: str, entry: _Entry, after: datetime) -> None:
        due = entry.job.schedule.next(after)
        now = self.clock.now()
        if due is not None and due <= now:  # fell behind by more than a period: no catch-up
            due = entry.job.schedule.next(now)
        entry.due = due
        if due is None:
            log.warning("PingSource %s: its schedule never fires again", key)
            return
        delay = (due - now).total_seconds()
        entry.timer = self.clock.call_later(delay, lambda: self._fire(key, entry))

    def _fire(self, key: str, entry: _Entry) -> None:
        if self._entries.get(key) is not entry:
            return
        due = entry.due
        assert due is not None
        event = entry.job.event.copy()
        event.attributes["id"] = str(uuid.uuid4())
        event.attributes["time"] = event_time(self.clock)
        task = asyncio.get_running_loop().create_task(self._send(key, event, entry.job.sink))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        self._arm(key, entry, due)

    async def _send(self, key: str, event: CloudEvent, sink: str) -> None:
        try:
            await self.send(event, sink)
        except Exception:  # the edge of one tick: log it, the next tick goes on
            log.exception("PingSource %s: sending event %s failed", key, event.id)

    async def close(self, grace: float = 5.0) -> None:
        """Stop every timer; ticks being sent get ``grace`` seconds, then are cancelled."""
        self._closed = True
        for key in list(self._entries):
            self.remove(key)
        if self._sending:
            _, pending = await asyncio.wait(set(self._sending), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


class PingSourceReconciler(ModelReconciler[PingSource]):
    rt = default_catalog().require("pingsources")

    def __init__(self, scheduler: PingScheduler, resolver: DestinationResolver,
                 tracker: Tracker) -> None:
        self.scheduler = scheduler
        self.resolver = resolver
        self.tracker = tracker
        self.watches = sink_watches(tracker)

    async def reconcile(self, obj: PingSource) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        status = obj.status = obj.status or SourceStatus()
        conditions = PING_CONDITIONS.manage(status)
        conditions.initialize()
        status.ce_attributes = [CloudEventAttributes(
            type=PING_EVENT_TYPE, source=ping_source(obj.namespace, obj.name))]
        sink = await resolve_sink(self.resolver, obj.spec, obj.namespace, key, status,
                                  conditions)
        if sink is None:
            self.scheduler.remove(key)
            return ReconcileResult(requeue_after=10)
        try:
            parsed = schedule(obj.spec)
        except CronError as err:  # admission refuses these; a stored one is left alone
            self.scheduler.remove(key)
            conditions.mark_false(DEPLOYED, "InvalidSchedule", str(err))
            return None
        self.scheduler.set(key, PingJob.of(parsed, make_event(obj), sink))
        conditions.mark_true(DEPLOYED)
        return None

    async def deleted(self, key: str) -> None:
        self.scheduler.remove(key)
        self.tracker.forget(key)
