"""The autoscaler: Knative's KPA decisions per revision, applied as Knative's scaler does.

Every ``tick`` seconds (2 by default) it collects each revision's per-second samples from
the activator, feeds them to the revision's ``kpa.Decider``, and turns the decision into the
number of instances to run, with Knative's rules around it:

- the initial scale is held until it has been reached once;
- min-scale (only while the revision is routed) and max-scale bound every decision;
- scaling to zero takes three steps: the decision is zero only after a stable window with
  no traffic; a revision active for at least a stable window then goes inactive
  (``Active=False``, ``NoTraffic``) while its instances stay; they stop once it has been
  inactive for the scale-to-zero grace period (or the pod retention period, if longer);
- a revision stuck activating for longer than its progress deadline goes back to zero;
- a request for a revision at zero pokes the autoscaler, which scales it to
  ``activation-scale`` (at least one) at once instead of waiting for the next tick;
- a request that must wait because every ready instance is full pokes it too: the
  revision scales up at once to the demand in flight (in panic mode, bounded by the
  scale-up rate and max-scale) — Knative would see the same demand a tick or two later;
- the activator stays in the request path while the excess burst capacity is negative
  or the revision is at zero.

Decisions run on the activator's clock (``loop.time()``); ``decide`` and the state take
``now`` explicitly so unit tests run them on fake time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from shoal.serving.activator import Activator, Sample
from shoal.serving.kpa import CONCURRENCY, Buckets, Decider, DeciderSpec, ScaleBounds

log = logging.getLogger("shoal.serving.autoscaler")

ACTIVE, ACTIVATING, INACTIVE = "True", "Unknown", "False"
ACTIVATION_TIMEOUT_BUFFER = 10.0  # Knative's activationTimeoutBuffer


@dataclass(frozen=True)
class Decision:
    """What a revision should run now, and its ``Active`` condition."""

    scale: int  # instances to run
    desired: int  # the autoscaler's wish (-1: not known yet)
    active: str  # "True", "Unknown", "False"
    reason: str
    message: str
    panicking: bool = False
    excess_burst_capacity: int = 0


class RevisionScale:
    """One revision's scaling state."""

    def __init__(self, spec: DeciderSpec, bounds: ScaleBounds, now: float, *,
                 progress_deadline: float = 600.0) -> None:
        self.decider = Decider(spec)
        self.bounds = bounds
        self.progress_deadline = progress_deadline
        self.stable = Buckets(spec.stable_window)
        self.panic = Buckets(spec.panic_window)
        self.scale = bounds.apply(bounds.initial_scale)
        self.want = self.scale
        self.initialized = False
        self.ready = 0
        self.activity = ACTIVATING if self.scale > 0 else INACTIVE
        self.reason = "Queued" if self.scale > 0 else "NoTraffic"
        self.since = now
        self.excess = 0
        self.ticks = 0

    @property
    def spec(self) -> DeciderSpec:
        return self.decider.spec

    def configure(self, spec: DeciderSpec, bounds: ScaleBounds,
                  progress_deadline: float) -> None:
        """New settings: the initial scale (until reached) and min/max apply at once."""
        if spec != self.decider.spec:
            self.decider.update(spec)
            self.stable.resize(spec.stable_window)
            self.panic.resize(spec.panic_window)
        self.bounds = bounds
        self.progress_deadline = progress_deadline
        if not self.initialized:
            self.scale = max(self.scale, bounds.initial_scale)
            self.want = max(self.want, self.scale)
        self.scale = bounds.apply(self.scale)
        if self.want >= 0:
            self.want = bounds.apply(self.want)

    def observe(self, samples: list[Sample]) -> None:
        rps = self.spec.metric != CONCURRENCY
        for sample in samples:
            value = float(sample.requests) if rps else sample.concurrency
            self.stable.record(sample.second, value)
            self.panic.record(sample.second, value)

    def tick(self, now: float, ready: int) -> None:
        """One decision of the decider, applied."""
        self.ready = ready
        self.ticks += 1
        if self.stable.empty:
            result = self.decider.scale(now, ready, None, None)
        else:
            result = self.decider.scale(now, ready, self.stable.average(now),
                                        self.panic.average(now))
        self.excess = result.excess_burst_capacity
        self.apply(now, result.desired)

    def poke(self, now: float) -> bool:
        """A request waits for a revision at zero: scale it up now."""
        if self.scale > 0:
            return False
        target = max(1, self.spec.activation_scale)
        self.scale = self.want = self.bounds.apply(target)
        self.refresh(now, self.ready)
        return True

    def burst(self, now: float, inflight: int, ready: int) -> bool:
        """Requests wait that the ready instances cannot take: scale up to the demand in
        flight now, in panic mode (so the next ticks do not scale it back down), instead of
        waiting for the next tick to see it in the panic window."""
        spec = self.spec
        if self.scale == 0:
            return False
        want = math.ceil(inflight / spec.target)
        want = min(want, math.ceil(spec.max_scale_up_rate * max(1, ready)))
        want = self.bounds.apply(want)
        if want <= self.scale:
            return False
        self.decider.panic_since = now
        self.decider.max_panic = max(self.decider.max_panic, want)
        self.scale = self.want = want
        self.refresh(now, ready)
        return True

    def apply(self, now: float, desired: int) -> None:
        """Knative's ``scaler.scale``: bounds, initial scale, the steps to zero."""
        bounds = self.bounds
        if desired < 0 and self.activity != ACTIVATING:
            self.refresh(now, self.ready)  # no data yet: keep the current scale
            return
        desired = max(desired, 0)
        if not self.initialized:
            desired = max(desired, bounds.initial_scale)
        desired = bounds.apply(desired)
        apply = True
        if desired == 0:
            if not bounds.scale_to_zero:
                desired = 1
            elif self.activity == ACTIVATING:
                # give up on an activation that never got ready
                timeout = self.progress_deadline + ACTIVATION_TIMEOUT_BUFFER
                if now - self.since < timeout:
                    desired, apply = -1, False
            elif self.activity == ACTIVE:
                if now - self.since >= self.spec.stable_window:
                    apply = False  # go inactive first; the instances stay for the grace period
                else:
                    desired = 1  # not active for a whole stable window yet
            elif now - self.since < max(bounds.grace_period, bounds.retention):
                desired, apply = -1, False  # inactive, within the grace period
        self.want = desired
        if apply:
            self.scale = desired
        self.refresh(now, self.ready)

    def refresh(self, now: float, ready: int) -> None:
        """Knative's ``computeActiveCondition`` from the ready instances."""
        self.ready = ready
        bounds = self.bounds
        if not self.initialized and ready >= max(bounds.min_scale, bounds.initial_scale):
            self.initialized = True  # at once for an initial scale of zero, as Knative
        if self.initialized:
            min_ready = max(bounds.min_scale, 1)
        else:
            min_ready = max(bounds.min_scale, bounds.initial_scale)
        if self.want == 0 or min_ready == 0:
            timed_out = self.activity == ACTIVATING and min_ready > 0
            self._become(now, INACTIVE, "TimedOut" if timed_out else "NoTraffic")
        elif ready < min_ready:
            if self.want > 0 or self.activity != INACTIVE:
                self._become(now, ACTIVATING, "Queued")
        elif self.want > 0 or self.activity != INACTIVE:
            self._become(now, ACTIVE, "")

    def _become(self, now: float, activity: str, reason: str) -> None:
        if activity != self.activity:
            self.activity = activity
            self.since = now
        self.reason = reason

    def decision(self) -> Decision:
        messages = {
            "NoTraffic": "The target is not receiving traffic.",
            "TimedOut": "The target could not be activated.",
            "Queued": "Requests to the target are being buffered as resources are "
                      "provisioned.",
        }
        return Decision(scale=self.scale, desired=self.want, active=self.activity,
                        reason=self.reason, message=messages.get(self.reason, ""),
                        panicking=self.decider.panicking,
                        excess_burst_capacity=self.excess)


class Autoscaler:
    """Runs every revision's decisions; ``on_change(key)`` when what it should run
    changed (the Revision reconciler then starts or drains instances)."""

    def __init__(self, activator: Activator, on_change: Callable[[str], None] | None = None,
                 *, tick: float = 2.0) -> None:
        self.activator = activator
        self.on_change = on_change
        self.tick_interval = tick
        self.clock = activator.clock
        self.revisions: dict[str, RevisionScale] = {}
        self._task: asyncio.Task[None] | None = None
        activator.poke = self.poke

    def update(self, key: str, spec: DeciderSpec, bounds: ScaleBounds, *, ready: int,
               progress_deadline: float) -> Decision:
        """Register or refresh a revision's settings; the decision to act on now."""
        now = self.clock()
        state = self.revisions.get(key)
        if state is None:
            state = self.revisions[key] = RevisionScale(spec, bounds, now,
                                                        progress_deadline=progress_deadline)
        else:
            state.configure(spec, bounds, progress_deadline)
        state.refresh(now, ready)
        self._route(key, state)
        return state.decision()

    def forget(self, key: str) -> None:
        self.revisions.pop(key, None)

    def decision(self, key: str) -> Decision | None:
        state = self.revisions.get(key)
        return state.decision() if state is not None else None

    def poke(self, key: str) -> None:
        """A request waits at the activator: scale from zero, or up to the demand."""
        state = self.revisions.get(key)
        if state is None:
            return
        now = self.clock()
        backend = self.activator.backend(key)
        if state.poke(now) or state.burst(now, backend.stats.inflight, backend.ready):
            self._route(key, state)
            self._changed(key)

    def tick_once(self) -> None:
        now = self.clock()
        for key, state in list(self.revisions.items()):
            backend = self.activator.backend(key)
            state.observe(backend.stats.collect(now))
            before = (state.scale, state.activity)
            state.tick(now, backend.ready)
            self._route(key, state)
            if (state.scale, state.activity) != before:
                self._changed(key)

    def _route(self, key: str, state: RevisionScale) -> None:
        backend = self.activator.backend(key)
        backend.set_in_path(state.scale == 0 or state.excess < 0 or backend.ready == 0)

    def _changed(self, key: str) -> None:
        if self.on_change is not None:
            self.on_change(key)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                self.tick_once()
            except Exception:  # a bug in one decision must not stop the autoscaler
                log.exception("autoscaler tick failed")
