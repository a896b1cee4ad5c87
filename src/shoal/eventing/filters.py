"""Trigger filters compiled into predicates: compile once per trigger, then cheap per event.

The broker's dispatcher calls `compile_trigger_filter` with a Trigger's ``spec.filter`` and
``spec.filters`` as stored (camelCase JSON) whenever the trigger changes, and runs the
predicate on every event; flows (Parallel branches) and other users of the Subscriptions
API filters call `compile_filters`.

Semantics are Knative's (``pkg/eventfilter`` and the broker's filter handler):

- a non-empty ``filters`` wins and ``filter`` is then ignored; with neither, every event
  passes;
- ``filter.attributes``: every key must match; a value equals the attribute's string form,
  and ``""`` only asks the attribute to exist. The context attributes (``specversion``,
  ``id``, ``source``, ``type``, ``subject``, ``time``, ``dataschema``/``schemaurl``,
  ``datacontenttype``, ``datamediatype``, ``datacontentencoding``) always exist, as the
  empty string when unset; an extension exists only when the event carries it;
- ``filters`` is a list that must all pass; each element uses the first dialect set, in
  the order exact, prefix, suffix, all, any, not, cesql. ``exact``/``prefix``/``suffix``
  match every key of their map; ``all`` needs every sub-filter, ``any`` one, ``not``
  inverts; ``cesql`` passes only when the expression is true without an evaluation error;
- a filter Knative cannot build (an empty map or value, an empty list, an empty or
  unparsable CESQL expression) is left out, as if absent; admission refuses such filters.

Values are compared as the binary HTTP binding writes them (``true``, ``5``), which is how
a Knative filter sees them after the broker has delivered the event in binary mode. One
deviation: ``time`` is compared as the string the event carries, where Knative compares
Go's ``time.Time.String()`` form (``2018-04-05 17:31:00 +0000 UTC``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shoal.cesql import CesqlParseError, matches, parse
from shoal.eventing.event import CloudEvent

Predicate = Callable[[CloudEvent], bool]
"""Whether an event passes a filter."""

_Node = Callable[[Mapping[str, Any]], bool]
_Lookup = Callable[[Mapping[str, Any]], str | None]

ALWAYS_PRESENT = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "dataschema",
        "schemaurl",
        "datacontenttype",
        "datamediatype",
        "datacontentencoding",
    }
)
"""Attributes a filter sees on every event (the empty string when unset), as in Knative."""


def _media_type(attrs: Mapping[str, Any]) -> Any:
    value = attrs.get("datacontenttype")
    return None if value is None else str(value).split(";", 1)[0].strip()


_DERIVED: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "schemaurl": lambda attrs: attrs.get("dataschema"),
    "datamediatype": _media_type,
}


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    return str(value)


def _lookup(name: str) -> _Lookup:
    """A reader of attribute `name` as text; None when the event does not have it."""
    derive = _DERIVED.get(name)
    unset = "" if name in ALWAYS_PRESENT else None

    def lookup(attrs: Mapping[str, Any]) -> str | None:
        value = attrs.get(name) if derive is None else derive(attrs)
        return unset if value is None else _text(value)

    return lookup


def _string_map(spec: Any) -> list[tuple[str, str]] | None:
    """The (attribute, value) pairs of an exact/prefix/suffix map; None if unusable."""
    if not isinstance(spec, Mapping):
        return None
    pairs = list(spec.items())
    if not all(type(k) is str and type(v) is str and k and v for k, v in pairs):
        return None
    return pairs


def _every(checks: list[_Node]) -> _Node:
    if len(checks) == 1:
        return checks[0]

    def every(attrs: Mapping[str, Any]) -> bool:
        return all(check(attrs) for check in checks)

    return every


def _some(checks: list[_Node]) -> _Node:
    if len(checks) == 1:
        return checks[0]

    def some(attrs: Mapping[str, Any]) -> bool:
        return any(check(attrs) for check in checks)

    return some


def _equals(lookup: _Lookup, expected: str) -> _Node:
    return lambda attrs: lookup(attrs) == expected


def _exists(lookup: _Lookup) -> _Node:
    return lambda attrs: lookup(attrs) is not None


def _starts(lookup: _Lookup, prefix: str) -> _Node:
    def starts(attrs: Mapping[str, Any]) -> bool:
        value = lookup(attrs)
        return value is not None and value.startswith(prefix)

    return starts


def _ends(lookup: _Lookup, suffix: str) -> _Node:
    def ends(attrs: Mapping[str, Any]) -> bool:
        value = lookup(attrs)
        return value is not None and value.endswith(suffix)

    return ends


def _string_dialect(make: Callable[[_Lookup, str], _Node]) -> Callable[[Any], _Node | None]:
    def build(spec: Any) -> _Node | None:
        pairs = _string_map(spec)
        if not pairs:
            return None
        return _every([make(_lookup(name), value) for name, value in pairs])

    return build


def _nested(spec: Any) -> list[_Node]:
    if not isinstance(spec, Sequence) or isinstance(spec, str):
        return []
    return [node for item in spec if (node := _compile(item)) is not None]


def _all(spec: Any) -> _Node | None:
    nodes = _nested(spec)
    return _every(nodes) if nodes else None


def _any(spec: Any) -> _Node | None:
    nodes = _nested(spec)
    return _some(nodes) if nodes else None


def _not(spec: Any) -> _Node | None:
    inner = _compile(spec)
    return None if inner is None else (lambda attrs: not inner(attrs))


def _cesql(spec: Any) -> _Node | None:
    if type(spec) is not str or not spec.strip():
        return None
    try:
        expression = parse(spec)
    except CesqlParseError:
        return None
    return lambda attrs: matches(expression, attrs)


DIALECTS: tuple[tuple[str, Callable[[Any], _Node | None]], ...] = (
    ("exact", _string_dialect(_equals)),
    ("prefix", _string_dialect(_starts)),
    ("suffix", _string_dialect(_ends)),
    ("all", _all),
    ("any", _any),
    ("not", _not),
    ("cesql", _cesql),
)
"""The Subscriptions API dialects in the order Knative tries them, with their builders."""


def _compile(flt: Any) -> _Node | None:
    """The check for one Subscriptions API filter; None when it filters nothing."""
    if not isinstance(flt, Mapping):
        return None
    for key, build in DIALECTS:
        spec = flt.get(key)
        if spec:
            return build(spec)
    return None


def _attributes(attributes: Any) -> _Node | None:
    if not isinstance(attributes, Mapping) or not attributes:
        return None
    checks: list[_Node] = []
    for name, value in attributes.items():
        lookup = _lookup(str(name))
        expected = "" if value is None else _text(value)
        checks.append(_exists(lookup) if expected == "" else _equals(lookup, expected))
    return _every(checks)


def match_all(event: CloudEvent) -> bool:
    """The predicate of a trigger without filters."""
    return True


def _predicate(node: _Node | None) -> Predicate:
    if node is None:
        return match_all

    def predicate(event: CloudEvent) -> bool:
        return node(event.attributes)

    return predicate


def compile_filters(filters: Sequence[Mapping[str, Any]] | None) -> Predicate:
    """A predicate passing events that match every Subscriptions API filter in `filters`
    (camelCase JSON as stored); an empty or missing list passes every event."""
    return _predicate(_all(filters or []))


def compile_trigger_filter(
    spec_filter: Mapping[str, Any] | None,
    spec_filters: Sequence[Mapping[str, Any]] | None,
) -> Predicate:
    """The predicate of a Trigger from its ``spec.filter`` and ``spec.filters`` JSON.

    A non-empty ``spec_filters`` wins and ``spec_filter`` is then ignored, as in Knative.
    """
    if spec_filters:
        return compile_filters(spec_filters)
    return _predicate(_attributes((spec_filter or {}).get("attributes")))
