"""Condition sets: the happy condition derived from dependents, as Knative derives it."""

from __future__ import annotations

import pytest

from shoal.api.model import Condition, Status
from shoal.controllers.conditions import ConditionSet, make_condition

SERVICE = ConditionSet(happy="Ready", dependents=["ConfigurationsReady", "RoutesReady"])


def table(status: Status) -> list[tuple[str, str, str | None, str | None]]:
    return [(c.type, c.status, c.reason, c.severity) for c in status.conditions or []]


def test_set_is_deduplicated_and_excludes_the_happy_condition() -> None:
    cs = ConditionSet("Ready", ["A", "B", "A", "Ready"])
    assert cs.dependents == ("A", "B")
    assert cs.is_terminal("Ready") and cs.is_terminal("A") and not cs.is_terminal("C")


def test_initialize_adds_missing_conditions_as_unknown_sorted_by_type() -> None:
    status = Status()
    conds = SERVICE.manage(status)
    conds.initialize()
    assert table(status) == [
        ("ConfigurationsReady", "Unknown", None, None),
        ("Ready", "Unknown", None, None),
        ("RoutesReady", "Unknown", None, None),
    ]
    assert not conds.is_happy()
    # Written with only what is set: no empty reason, message or severity.
    assert status.dump() == {
        "conditions": [
            {"type": "ConfigurationsReady", "status": "Unknown"},
            {"type": "Ready", "status": "Unknown"},
            {"type": "RoutesReady", "status": "Unknown"},
        ]
    }


def test_initialize_keeps_what_is_there_and_follows_a_true_happy_condition() -> None:
    status = Status(conditions=[Condition(type="Ready", status="True")])
    SERVICE.manage(status).initialize()
    assert table(status) == [
        ("ConfigurationsReady", "True", None, None),
        ("Ready", "True", None, None),
        ("RoutesReady", "True", None, None),
    ]


def test_happy_becomes_true_only_when_every_dependent_is() -> None:
    status = Status()
    conds = SERVICE.manage(status)
    conds.initialize()
    conds.mark_true("ConfigurationsReady")
    assert conds.happy() is not None and conds.get("Ready") == conds.happy()
    assert not conds.is_happy()
    conds.mark_true("RoutesReady")
    assert conds.is_happy()
    ready = conds.happy()
    assert ready is not None and ready.reason is None and ready.message is None


def test_false_dependent_makes_happy_false_with_its_reason() -> None:
    status = Status()
    conds = SERVICE.manage(status)
    conds.initialize()
    conds.mark_true("ConfigurationsReady")
    conds.mark_false("RoutesReady", "RouteMissing", 'Route "hello" is missing')
    ready = conds.happy()
    assert ready is not None
    assert (ready.status, ready.reason, ready.message) == (
        "False",
        "RouteMissing",
        'Route "hello" is missing',
    )


def test_false_trumps_unknown_and_the_latest_false_names_the_reason() -> None:
    status = Status()
    conds = SERVICE.manage(status)
    conds.initialize()
    conds.mark_false("ConfigurationsReady", "RevisionFailed", "boom")
    conds.mark_unknown("RoutesReady", "Deploying", "")
    ready = conds.happy()
    assert ready is not None and (ready.status, ready.reason) == ("False", "RevisionFailed")
    conds.mark_false("RoutesReady", "RouteMissing", "gone")
    ready = conds.happy()
    assert ready is not None and (ready.status, ready.reason) == ("False", "RouteMissing")
    conds.mark_true("RoutesReady")
    ready = conds.happy()
    assert ready is not None and (ready.status, ready.reason) == ("False", "RevisionFailed")


def test_unknown_dependent_makes_happy_unknown() -> None:
    status = Status()
    conds = SERVICE.manage(status)
    conds.initialize()
    conds.mark_true("ConfigurationsReady")
    conds.mark_true("RoutesReady")
    conds.mark_unknown("RoutesReady", "TrafficNotMigrated", "waiting")
    ready = conds.happy()
    assert ready is not None
    assert (ready.status, ready.reason, ready.message) == (
        "Unknown",
        "TrafficNotMigrated",
        "waiting",
    )


def test_non_dependent_conditions_are_informational() -> None:
    status = Status()
    conds = SERVICE.manage(status)
    conds.initialize()
    conds.mark_true("ConfigurationsReady")
    conds.mark_true("RoutesReady")
    conds.mark_false("CertificateProvisioned", "TLSNotEnabled", "no TLS", severity="Warning")
    conds.mark_unknown("Scaled", "Pending", "")
    assert conds.is_happy()
    cert = conds.get("CertificateProvisioned")
    scaled = conds.get("Scaled")
    assert cert is not None and cert.severity == "Warning"
    assert scaled is not None and scaled.severity == "Info"
    assert [c.type for c in status.conditions or []] == [
        "CertificateProvisioned",
        "ConfigurationsReady",
        "Ready",
        "RoutesReady",
        "Scaled",
    ]
    conds.clear("Scaled")
    assert conds.get("Scaled") is None
    with pytest.raises(ValueError, match="terminal"):
        conds.clear("RoutesReady")


def test_marking_the_happy_condition_directly() -> None:
    status = Status()
    conds = ConditionSet("Succeeded").manage(status)
    conds.mark_true("Succeeded", "Done", "all good")
    ready = conds.happy()
    assert ready is not None and (ready.status, ready.reason) == ("True", "Done")
    conds.mark_false("Succeeded", "Failed", "exit 1")
    assert conds.is_false("Succeeded")


def test_no_dependents_any_true_mark_makes_happy_true() -> None:
    status = Status()
    conds = ConditionSet().manage(status)
    conds.initialize()
    conds.mark_true("Addressable")
    assert conds.is_happy()


def test_remarking_a_condition_keeps_the_same_object() -> None:
    status = Status()
    conds = SERVICE.manage(status)
    conds.mark_false("RoutesReady", "RouteMissing", "x")
    before = conds.get("RoutesReady")
    conds.mark_false("RoutesReady", "RouteMissing", "x")
    assert conds.get("RoutesReady") is before


def test_make_condition_sets_only_given_fields() -> None:
    assert make_condition("A", "True").dump() == {"type": "A", "status": "True"}
    assert make_condition("A", "False", "R", "m", "Warning").dump() == {
        "type": "A",
        "status": "False",
        "reason": "R",
        "message": "m",
        "severity": "Warning",
    }
