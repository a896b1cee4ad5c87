"""How the autoscaler applies decisions, on fake time: initial scale, bounds, the steps to
zero, activation, and what it hands the activator."""

from __future__ import annotations

from shoal.serving.activator import Activator, Sample
from shoal.serving.autoscaler import ACTIVATING, ACTIVE, INACTIVE, Autoscaler, RevisionScale
from shoal.serving.kpa import DeciderSpec, ScaleBounds

SPEC = DeciderSpec(target=1.0, total=1.0, stable_window=6.0, panic_window=1.0,
                   target_burst_capacity=0)
BOUNDS = ScaleBounds(grace_period=2.0)


def busy(state: RevisionScale, start: int, end: int, concurrency: float) -> None:
    state.observe([Sample(s, concurrency, int(concurrency)) for s in range(start, end)])


def test_initial_scale_is_held_until_reached() -> None:
    state = RevisionScale(SPEC, ScaleBounds(initial_scale=3), 0.0)
    assert (state.scale, state.activity) == (3, ACTIVATING)
    busy(state, 0, 2, 0.0)
    state.tick(2.0, ready=1)
    assert state.scale == 3 and state.activity == ACTIVATING  # no traffic, still held
    state.tick(4.0, ready=3)
    assert state.activity == ACTIVE and state.initialized


def test_idle_revision_goes_inactive_then_to_zero_after_the_grace_period() -> None:
    state = RevisionScale(SPEC, BOUNDS, 0.0)
    state.refresh(0.5, ready=1)
    assert state.activity == ACTIVE
    busy(state, 0, 5, 1.0)  # traffic in the first seconds
    busy(state, 5, 8, 0.0)
    state.tick(8.0, ready=1)
    assert (state.scale, state.activity) == (1, ACTIVE)  # the window still sees traffic
    busy(state, 8, 10, 0.0)
    state.tick(10.0, ready=1)  # a whole stable window idle, active for more than one
    assert (state.want, state.scale, state.activity, state.reason) == (
        0, 1, INACTIVE, "NoTraffic")
    busy(state, 10, 12, 0.0)
    state.tick(11.0, ready=1)
    assert state.scale == 1  # the grace period is not over
    state.tick(12.5, ready=1)
    assert state.scale == 0
    decision = state.decision()
    assert (decision.active, decision.reason) == ("False", "NoTraffic")


def test_a_revision_not_active_for_a_window_keeps_one_instance() -> None:
    state = RevisionScale(SPEC, BOUNDS, 0.0)
    state.refresh(5.0, ready=1)  # active since 5
    busy(state, 0, 9, 0.0)
    state.tick(9.0, ready=1)  # idle, but active for only 4 s
    assert (state.scale, state.activity) == (1, ACTIVE)


def test_a_poke_at_zero_scales_to_the_activation_scale_at_once() -> None:
    spec = DeciderSpec(target=1.0, stable_window=6.0, activation_scale=2)
    state = RevisionScale(spec, ScaleBounds(initial_scale=0), 0.0)
    assert (state.scale, state.activity) == (0, INACTIVE)
    assert state.poke(1.0)
    assert (state.scale, state.activity, state.reason) == (2, ACTIVATING, "Queued")
    assert not state.poke(1.1)  # already on its way
    state.refresh(1.5, ready=2)
    assert state.activity == ACTIVE


def test_min_scale_keeps_instances_and_max_scale_caps() -> None:
    state = RevisionScale(SPEC, ScaleBounds(min_scale=2, max_scale=3), 0.0)
    assert state.scale == 2
    state.refresh(0.5, ready=2)
    busy(state, 0, 4, 10.0)  # ten in flight: ten instances wanted
    state.tick(4.0, ready=2)
    assert state.scale == 3
    for now in range(6, 30, 2):
        busy(state, now - 2, now, 0.0)
        state.tick(float(now), ready=state.scale)
    assert (state.scale, state.activity) == (2, ACTIVE)


def test_without_scale_to_zero_one_instance_stays() -> None:
    state = RevisionScale(SPEC, ScaleBounds(scale_to_zero=False), 0.0)
    state.refresh(0.0, ready=1)
    for now in range(2, 20, 2):
        busy(state, now - 2, now, 0.0)
        state.tick(float(now), ready=1)
    assert (state.scale, state.activity) == (1, ACTIVE)


def test_activation_that_never_gets_ready_times_out_to_zero() -> None:
    state = RevisionScale(SPEC, ScaleBounds(initial_scale=0), 0.0, progress_deadline=5.0)
    state.poke(1.0)
    busy(state, 0, 10, 0.0)
    state.tick(10.0, ready=0)
    assert (state.scale, state.activity) == (1, ACTIVATING)  # deadline + 10 s not passed
    busy(state, 10, 16, 0.0)
    state.tick(16.5, ready=0)
    assert (state.scale, state.activity, state.reason) == (0, INACTIVE, "TimedOut")


def test_the_autoscaler_ticks_pokes_and_puts_the_activator_in_the_path() -> None:
    now = [0.0]
    activator = Activator(lambda: now[0])
    changed: list[str] = []
    autoscaler = Autoscaler(activator, changed.append)
    decision = autoscaler.update("default/a", SPEC, BOUNDS, ready=0, progress_deadline=600)
    assert (decision.scale, decision.active) == (1, "Unknown")
    backend = activator.backend("default/a")
    assert backend.in_path  # no ready instance yet
    backend.set_endpoints(["127.0.0.1:1"])
    autoscaler.update("default/a", SPEC, BOUNDS, ready=1, progress_deadline=600)
    assert not backend.in_path  # target-burst-capacity 0: only at zero

    for t in range(1, 20):  # no traffic: to zero after the window and the grace period
        now[0] = float(t)
        autoscaler.tick_once()
    assert autoscaler.decision("default/a") is not None
    assert autoscaler.revisions["default/a"].scale == 0
    assert changed and set(changed) == {"default/a"}
    assert backend.in_path

    changed.clear()
    backend.set_endpoints([])
    backend.acquire(_Waiter(), now[0])  # a request at zero pokes at once
    assert changed == ["default/a"]
    assert autoscaler.revisions["default/a"].scale == 1


class _Waiter:
    def granted(self, address: str) -> None:
        pass


def test_requests_waiting_at_full_instances_scale_up_at_once_in_panic_mode() -> None:
    state = RevisionScale(SPEC, ScaleBounds(max_scale=5), 0.0)
    state.refresh(0.5, ready=1)
    assert state.burst(1.0, inflight=4, ready=1)
    assert (state.scale, state.decider.panicking) == (4, True)
    assert not state.burst(1.1, inflight=3, ready=1)  # never down from here
    assert state.burst(1.2, inflight=9, ready=1) and state.scale == 5  # max-scale caps
    busy(state, 0, 2, 1.0)
    state.tick(2.0, ready=5)
    assert state.scale == 5  # panicking: no scale-down before a stable window passes


def test_a_wait_at_a_full_revision_pokes_the_autoscaler() -> None:
    now = [0.0]
    activator = Activator(lambda: now[0])
    changed: list[str] = []
    autoscaler = Autoscaler(activator, changed.append)
    autoscaler.update("default/b", SPEC, BOUNDS, ready=1, progress_deadline=600)
    backend = activator.backend("default/b")
    backend.configure(1, backend.timeouts)
    backend.set_endpoints(["127.0.0.1:1"])
    backend.set_in_path(True)
    assert backend.acquire(_Waiter(), 0.0) == "127.0.0.1:1"
    assert backend.acquire(_Waiter(), 0.0) is None  # full: waits, and pokes
    assert changed == ["default/b"] and autoscaler.revisions["default/b"].scale == 2
