"""compile_filters: every Subscriptions API dialect, nesting, and filters Knative leaves out."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.eventing.event import CloudEvent
from shoal.eventing.filters import compile_filters, match_all

BASE = {"specversion": "1.0", "id": "1", "source": "/orders", "type": "com.example.created"}


def event(**attrs: Any) -> CloudEvent:
    return CloudEvent({**BASE, **attrs}, b'{"a":1}')


# (name, filters, event attributes beyond BASE, expected)
CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], bool]] = [
    # exact
    ("exact match", [{"exact": {"type": "com.example.created"}}], {}, True),
    ("exact mismatch", [{"exact": {"type": "com.example.deleted"}}], {}, False),
    ("exact is case-sensitive", [{"exact": {"type": "COM.example.created"}}], {}, False),
    (
        "exact needs every key",
        [{"exact": {"type": "com.example.created", "source": "/x"}}],
        {},
        False,
    ),
    (
        "exact on every key",
        [{"exact": {"type": "com.example.created", "source": "/orders"}}],
        {},
        True,
    ),
    ("exact on an extension", [{"exact": {"region": "eu"}}], {"region": "eu"}, True),
    ("exact on a missing extension", [{"exact": {"region": "eu"}}], {}, False),
    ("exact on an unset subject", [{"exact": {"subject": "x"}}], {}, False),
    ("exact on an integer extension", [{"exact": {"count": "5"}}], {"count": 5}, True),
    ("exact on a boolean extension", [{"exact": {"urgent": "true"}}], {"urgent": True}, True),
    ("exact on a false extension", [{"exact": {"urgent": "true"}}], {"urgent": False}, False),
    # prefix
    ("prefix match", [{"prefix": {"type": "com.example."}}], {}, True),
    ("prefix mismatch", [{"prefix": {"type": "org."}}], {}, False),
    ("prefix of the whole value", [{"prefix": {"type": "com.example.created"}}], {}, True),
    ("prefix longer than the value", [{"prefix": {"type": "com.example.created.x"}}], {}, False),
    ("prefix on an extension", [{"prefix": {"region": "eu-"}}], {"region": "eu-west"}, True),
    ("prefix on a missing extension", [{"prefix": {"region": "eu-"}}], {}, False),
    ("prefix on an integer", [{"prefix": {"count": "12"}}], {"count": 123}, True),
    ("prefix needs every key", [{"prefix": {"type": "com.", "source": "/inv"}}], {}, False),
    # suffix
    ("suffix match", [{"suffix": {"type": ".created"}}], {}, True),
    ("suffix mismatch", [{"suffix": {"type": ".deleted"}}], {}, False),
    ("suffix on an extension", [{"suffix": {"region": "-west"}}], {"region": "eu-west"}, True),
    ("suffix on a missing extension", [{"suffix": {"region": "-west"}}], {}, False),
    ("suffix on every key", [{"suffix": {"type": "created", "source": "ders"}}], {}, True),
    # all
    (
        "all pass",
        [{"all": [{"prefix": {"type": "com."}}, {"suffix": {"type": ".created"}}]}],
        {},
        True,
    ),
    (
        "all with one failing",
        [{"all": [{"prefix": {"type": "com."}}, {"suffix": {"type": ".deleted"}}]}],
        {},
        False,
    ),
    # any
    (
        "any with one passing",
        [{"any": [{"exact": {"type": "nope"}}, {"exact": {"source": "/orders"}}]}],
        {},
        True,
    ),
    (
        "any with none passing",
        [{"any": [{"exact": {"type": "nope"}}, {"exact": {"source": "/nope"}}]}],
        {},
        False,
    ),
    # not
    ("not of a mismatch", [{"not": {"exact": {"type": "com.example.deleted"}}}], {}, True),
    ("not of a match", [{"not": {"exact": {"type": "com.example.created"}}}], {}, False),
    ("not of not", [{"not": {"not": {"prefix": {"type": "com."}}}}], {}, True),
    ("not of a missing extension", [{"not": {"exact": {"region": "eu"}}}], {}, True),
    # nesting
    (
        "nested all/any/not",
        [
            {
                "all": [
                    {"any": [{"exact": {"type": "x"}}, {"prefix": {"type": "com.example"}}]},
                    {"not": {"any": [{"exact": {"region": "us"}}, {"suffix": {"type": "x"}}]}},
                ]
            }
        ],
        {"region": "eu"},
        True,
    ),
    (
        "nested all/any/not, inner not fails",
        [
            {
                "all": [
                    {"any": [{"exact": {"type": "x"}}, {"prefix": {"type": "com.example"}}]},
                    {"not": {"any": [{"exact": {"region": "us"}}, {"suffix": {"type": "x"}}]}},
                ]
            }
        ],
        {"region": "us"},
        False,
    ),
    # cesql
    ("cesql true", [{"cesql": "type LIKE 'com.example.%' AND source = '/orders'"}], {}, True),
    ("cesql false", [{"cesql": "type = 'com.example.deleted'"}], {}, False),
    ("cesql on an extension", [{"cesql": "count > 3"}], {"count": 5}, True),
    ("cesql on a string extension", [{"cesql": "count > 3"}], {"count": "10"}, True),
    ("cesql EXISTS", [{"cesql": "EXISTS region"}], {"region": "eu"}, True),
    ("cesql NOT EXISTS", [{"cesql": "NOT EXISTS region"}], {}, True),
    # An evaluation error means no match, whatever the value.
    ("cesql missing attribute", [{"cesql": "subject = 'x'"}], {}, False),
    ("cesql missing attribute negated", [{"cesql": "NOT (subject = 'x')"}], {}, False),
    ("cesql error or true", [{"cesql": "subject = 'x' OR TRUE"}], {}, False),
    ("cesql division by zero", [{"cesql": "1 / 0 = 0"}], {}, False),
    ("cesql cast error", [{"cesql": "region"}], {"region": "eu"}, False),
    ("not of a cesql error", [{"not": {"cesql": "subject = 'x'"}}], {}, True),
    # Several filters must all pass.
    ("list all pass", [{"prefix": {"type": "com."}}, {"exact": {"source": "/orders"}}], {}, True),
    ("list one fails", [{"prefix": {"type": "com."}}, {"exact": {"source": "/x"}}], {}, False),
]


@pytest.mark.parametrize(
    ("filters", "attrs", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_dialects(filters: list[dict[str, Any]], attrs: dict[str, Any], expected: bool) -> None:
    assert compile_filters(filters)(event(**attrs)) is expected


# Filters Knative cannot build are left out, as if absent (admission refuses them).
LEFT_OUT: list[tuple[str, list[dict[str, Any]]]] = [
    ("empty exact value", [{"exact": {"type": ""}}]),
    ("empty prefix value", [{"prefix": {"type": ""}}]),
    ("empty suffix attribute", [{"suffix": {"": "x"}}]),
    ("empty all", [{"all": []}]),
    ("empty any", [{"any": []}]),
    ("all of left-out filters", [{"all": [{"exact": {"type": ""}}, {}]}]),
    ("any of left-out filters", [{"any": [{"cesql": ""}]}]),
    ("not of a left-out filter", [{"not": {"exact": {"type": ""}}}]),
    ("not of nothing", [{"not": {}}]),
    ("empty cesql", [{"cesql": "  "}]),
    ("unparsable cesql", [{"cesql": "type LIKE"}]),
    ("no dialect", [{}]),
    ("not an object", ["exact"]),  # type: ignore[list-item]
]


@pytest.mark.parametrize("filters", [case[1] for case in LEFT_OUT], ids=[c[0] for c in LEFT_OUT])
def test_filters_knative_cannot_build_are_left_out(filters: list[dict[str, Any]]) -> None:
    assert compile_filters(filters)(event(type="anything")) is True
    # Beside a real filter, only the real one counts.
    assert compile_filters([*filters, {"exact": {"type": "x"}}])(event()) is False


def test_a_left_out_branch_does_not_change_any() -> None:
    predicate = compile_filters([{"any": [{"exact": {"type": ""}}, {"exact": {"type": "x"}}]}])
    assert predicate(event()) is False
    assert predicate(event(type="x")) is True


def test_the_first_dialect_in_knatives_order_wins() -> None:
    # exact comes before prefix; an empty map counts as unset.
    both = {"exact": {"type": "nope"}, "prefix": {"type": "com."}}
    assert compile_filters([both])(event()) is False
    assert compile_filters([{"exact": {}, "prefix": {"type": "com."}}])(event()) is True
    # A set dialect that cannot be built does not fall through to the next one.
    assert compile_filters([{"exact": {"type": ""}, "prefix": {"type": "org."}}])(event()) is True


def test_no_filters_match_everything() -> None:
    assert compile_filters([]) is match_all
    assert compile_filters(None) is match_all
    assert compile_filters([{"exact": {"type": ""}}]) is match_all


def test_a_predicate_is_reusable_and_leaves_events_alone() -> None:
    filters = [{"any": [{"cesql": "count > 3"}, {"exact": {"region": "eu"}}]}]
    snapshot = [{"any": [{"cesql": "count > 3"}, {"exact": {"region": "eu"}}]}]
    predicate = compile_filters(filters)
    events = [event(count=5), event(region="eu"), event(count=1), event()]
    before = [CloudEvent(dict(e.attributes), e.data) for e in events]
    assert [predicate(e) for e in events] == [True, True, False, False]
    assert [predicate(e) for e in events] == [True, True, False, False]
    assert events == before
    assert filters == snapshot
