"""compile_trigger_filter: the attribute filter, filter vs filters, and Knative's cases.

The last part replays the event tables of Knative's new-trigger-filters conformance
features (single dialects, any, all, two triggers on one broker) as data.
"""

from __future__ import annotations

from typing import Any

import pytest

from shoal.eventing.event import CloudEvent
from shoal.eventing.filters import compile_trigger_filter, match_all

BASE = {"specversion": "1.0", "id": "1", "source": "/orders", "type": "com.example.created"}


def event(**attrs: Any) -> CloudEvent:
    return CloudEvent({**BASE, **attrs}, None)


def passes(attributes: dict[str, str], **attrs: Any) -> bool:
    return compile_trigger_filter({"attributes": attributes}, None)(event(**attrs))


# --- spec.filter.attributes --------------------------------------------------------------


def test_no_filter_matches_everything() -> None:
    assert compile_trigger_filter(None, None) is match_all
    assert compile_trigger_filter({}, []) is match_all
    assert compile_trigger_filter({"attributes": {}}, None) is match_all
    assert compile_trigger_filter({"attributes": None}, None) is match_all


@pytest.mark.parametrize(
    ("attributes", "attrs", "expected"),
    [
        ({"type": "com.example.created"}, {}, True),
        ({"type": "com.example.deleted"}, {}, False),
        ({"type": "com.example.created", "source": "/orders"}, {}, True),
        ({"type": "com.example.created", "source": "/other"}, {}, False),
        ({"region": "eu"}, {"region": "eu"}, True),
        ({"region": "eu"}, {"region": "us"}, False),
        ({"region": "eu"}, {}, False),
        ({"count": "5"}, {"count": 5}, True),
        ({"urgent": "false"}, {"urgent": False}, True),
        ({"subject": "a"}, {"subject": "a"}, True),
        ({"subject": "a"}, {}, False),
        ({"datacontenttype": "application/json"}, {"datacontenttype": "application/json"}, True),
        ({"time": "2018-04-05T17:31:00Z"}, {"time": "2018-04-05T17:31:00Z"}, True),
    ],
)
def test_attributes_must_all_equal(
    attributes: dict[str, str], attrs: dict[str, Any], expected: bool
) -> None:
    assert passes(attributes, **attrs) is expected


@pytest.mark.parametrize(
    ("attributes", "attrs", "expected"),
    [
        # "" on an extension: the event must carry it, with any value.
        ({"region": ""}, {"region": "eu"}, True),
        ({"region": ""}, {"region": ""}, True),
        ({"region": ""}, {}, False),
        # "" on a context attribute always matches: Knative sees every context attribute,
        # as the empty string when it is unset.
        ({"type": ""}, {}, True),
        ({"subject": ""}, {}, True),
        ({"dataschema": ""}, {}, True),
        ({"type": "", "region": ""}, {}, False),
        ({"type": "", "source": "/orders"}, {}, True),
    ],
)
def test_an_empty_value_asks_only_for_the_attribute(
    attributes: dict[str, str], attrs: dict[str, Any], expected: bool
) -> None:
    assert passes(attributes, **attrs) is expected


def test_knatives_derived_attributes() -> None:
    schema = "https://example.com/schema"
    assert passes({"schemaurl": schema}, dataschema=schema)
    assert passes({"datamediatype": "application/json"}, datacontenttype="application/json; a=b")
    assert not passes({"datamediatype": "text/plain"})
    assert passes({"datacontentencoding": ""})


# --- filter and filters together ---------------------------------------------------------


def test_non_empty_filters_win_and_filter_is_ignored() -> None:
    predicate = compile_trigger_filter(
        {"attributes": {"type": "com.example.deleted"}},
        [{"exact": {"type": "com.example.created"}}],
    )
    assert predicate(event()) is True
    assert predicate(event(type="com.example.deleted")) is False


def test_empty_filters_leave_filter_in_charge() -> None:
    predicate = compile_trigger_filter({"attributes": {"type": "com.example.deleted"}}, [])
    assert predicate(event()) is False
    assert predicate(event(type="com.example.deleted")) is True


# --- Knative's conformance tables --------------------------------------------------------

MATCHED = {"type": "dev.knative.test.event", "source": "https://example.com/test"}
UNMATCHED = {"type": "org.wrong.type", "source": "org.wrong.source"}

SINGLE_DIALECTS: dict[str, list[dict[str, Any]]] = {
    "exact": [{"exact": dict(MATCHED)}],
    "prefix": [{"prefix": {name: value[:4] for name, value in MATCHED.items()}}],
    "suffix": [{"suffix": {name: value[5:] for name, value in MATCHED.items()}}],
    "cesql": [
        {"cesql": f"type = '{MATCHED['type']}' AND source = '{MATCHED['source']}'"},
    ],
}


@pytest.mark.parametrize("filters", SINGLE_DIALECTS.values(), ids=SINGLE_DIALECTS.keys())
def test_knative_single_dialect_filters(filters: list[dict[str, Any]]) -> None:
    predicate = compile_trigger_filter(None, filters)
    assert predicate(event(**MATCHED)) is True
    assert predicate(event(**UNMATCHED)) is False


ANY_FILTER = [
    {
        "any": [
            {"exact": {"type": "exact.event.type"}},
            {"prefix": {"type": "prefix"}},
            {"suffix": {"type": "suffix"}},
            {"not": {"cesql": "type LIKE '%event.type%'"}},
            {"cesql": "type = 'cesql.event.type'"},
        ]
    }
]

ALL_FILTER = [
    {
        "all": [
            {"exact": {"type": "exact.prefix.suffix.event.type"}},
            {"prefix": {"type": "exact.prefix"}},
            {"suffix": {"type": "suffix.event.type"}},
            {"cesql": "type LIKE 'exact.prefix.suffix%'"},
        ]
    }
]


@pytest.mark.parametrize(
    ("event_type", "delivered"),
    [
        ("exact.event.type", True),
        ("prefix.event.type", True),
        ("event.type.suffix", True),
        ("not.type.event", True),
        ("cesql.event.type", True),
        ("not.event.type", False),
    ],
)
def test_knative_any_filter(event_type: str, delivered: bool) -> None:
    assert compile_trigger_filter(None, ANY_FILTER)(event(type=event_type)) is delivered


@pytest.mark.parametrize(
    ("event_type", "delivered"),
    [
        ("not.event.type", False),
        ("exact.prefix.suffix.event", False),
        ("exact.prefix.suffix.event.suffix.event.type", False),
        ("exact.prefix.suffix.event.type", True),
    ],
)
def test_knative_all_filter(event_type: str, delivered: bool) -> None:
    assert compile_trigger_filter(None, ALL_FILTER)(event(type=event_type)) is delivered


def test_knative_two_triggers_on_one_broker() -> None:
    first = compile_trigger_filter(
        None, [{"any": [{"exact": {"type": "type1"}}, {"prefix": {"type": "both"}}]}]
    )
    second = compile_trigger_filter(
        None, [{"any": [{"exact": {"type": "type2"}}, {"prefix": {"type": "both"}}]}]
    )
    types = ["type1", "both.should.match", "type2", "type3"]
    assert [first(event(type=t)) for t in types] == [True, True, False, False]
    assert [second(event(type=t)) for t in types] == [False, True, True, False]


@pytest.mark.parametrize(
    ("attributes", "attrs", "delivered"),
    [
        # The broker filter handler's cases for the attribute filter.
        ({"type": "", "source": ""}, {}, True),
        ({"type": "com.example.created", "source": "/orders"}, {}, True),
        ({"type": "some-other-type", "source": ""}, {}, False),
        ({"type": "", "source": "some-other-source"}, {}, False),
        ({"type": "", "source": "", "extra": "my-extra"}, {"extra": "my-extra"}, True),
        ({"type": "", "source": "", "extra": "my-extra"}, {"extra": "other"}, False),
        ({"type": "", "source": "", "extra": "my-extra"}, {}, False),
    ],
)
def test_knative_attribute_filter_cases(
    attributes: dict[str, str], attrs: dict[str, Any], delivered: bool
) -> None:
    assert passes(attributes, **attrs) is delivered
