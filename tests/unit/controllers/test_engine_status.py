"""The engine's status bookkeeping as pure functions: generation, transition times, diff."""

from __future__ import annotations

from typing import Any

from shoal.controllers.status import (
    NEW_GENERATION_REASON,
    mark_new_generation,
    settle_status,
    status_changed,
)

T0 = "2024-01-01T00:00:00Z"
T1 = "2024-01-01T00:05:00Z"


def obj(generation: int | None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", "namespace": "default"}
    if generation is not None:
        meta["generation"] = generation
    out: dict[str, Any] = {"metadata": meta}
    if status is not None:
        out["status"] = status
    return out


def test_new_generation_resets_ready_to_unknown() -> None:
    o = obj(
        2,
        {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": T0},
                {"type": "Active", "status": "True", "lastTransitionTime": T0},
            ],
        },
    )
    mark_new_generation(o)
    assert o["status"]["conditions"] == [
        {"type": "Active", "status": "True", "lastTransitionTime": T0},
        {
            "type": "Ready",
            "status": "Unknown",
            "reason": NEW_GENERATION_REASON,
            "message": "unsuccessfully observed a new generation",
        },
    ]


def test_observed_generation_leaves_conditions_alone() -> None:
    status = {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}
    o = obj(2, dict(status))
    mark_new_generation(o)
    assert o["status"] == status
    no_generation = obj(None)
    mark_new_generation(no_generation)
    assert "status" not in no_generation


def test_settle_sets_observed_generation_and_stamps_new_conditions() -> None:
    read = obj(3)
    settled = settle_status(read, {"conditions": [{"type": "Ready", "status": "True"}]}, T1)
    assert settled == {
        "observedGeneration": 3,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": T1}],
    }


def test_settle_keeps_transition_time_of_unchanged_conditions() -> None:
    read = obj(
        1,
        {
            "observedGeneration": 1,
            "conditions": [
                {"type": "A", "status": "True", "lastTransitionTime": T0},
                {
                    "type": "B",
                    "status": "False",
                    "reason": "R",
                    "message": "m",
                    "lastTransitionTime": T0,
                },
                {"type": "C", "status": "Unknown", "lastTransitionTime": T0},
            ],
        },
    )
    new = {
        "conditions": [
            {"type": "A", "status": "True", "lastTransitionTime": "1999-01-01T00:00:00Z"},
            {"type": "B", "status": "False", "reason": "R", "message": "changed"},
            {"type": "C", "status": "True"},
        ]
    }
    settled = settle_status(read, new, T1)
    assert settled is not None
    times = {c["type"]: c["lastTransitionTime"] for c in settled["conditions"]}
    assert times == {"A": T0, "B": T1, "C": T1}
    assert new["conditions"][1].get("lastTransitionTime") is None  # input left alone


def test_settle_of_a_kind_without_generation_or_status() -> None:
    assert settle_status(obj(None), None, T1) is None
    assert settle_status(obj(None), {"x": 1}, T1) == {"x": 1}


def test_status_changed() -> None:
    read = obj(1, {"observedGeneration": 1})
    assert not status_changed(read, {"observedGeneration": 1})
    assert status_changed(read, {"observedGeneration": 2})
    assert not status_changed(obj(None), None)
    assert not status_changed(obj(None), {})
