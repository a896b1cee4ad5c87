"""Runs every case of the CESQL conformance kit (tests/conformance/cesql-tck) against
shoal.cesql: the value and the error kind must be exactly what the kit says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shoal.cesql import CesqlParseError, parse

TCK = Path(__file__).resolve().parents[2] / "conformance" / "cesql-tck"

# Any valid event, for cases that give no `event` of their own.
DEFAULT_EVENT = {
    "specversion": "1.0",
    "id": "tck-id",
    "source": "http://tck.example/source",
    "type": "tck.example.type",
}


class _KitLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as the strings the event's JSON form would carry."""


_KitLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _cases() -> list[Any]:
    # Expressions and names are read as the text written (an unquoted `tRuE` or `-10`
    # is an expression, not a YAML boolean or number); results and events with types.
    cases = []
    for path in sorted(TCK.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        typed = yaml.load(text, Loader=_KitLoader)
        raw = yaml.load(text, Loader=yaml.BaseLoader)
        for case, case_text in zip(typed["tests"], raw["tests"], strict=True):
            case = {**case, "name": case_text["name"], "expression": case_text["expression"]}
            cases.append(pytest.param(case, id=f"{path.name}:{case['name']}"))
    return cases


CASES = _cases()


def test_the_kit_is_there() -> None:
    assert len(CASES) > 150


@pytest.mark.parametrize("case", CASES)
def test_tck(case: dict[str, Any]) -> None:
    expected_error = case.get("error")
    if expected_error == "parse":
        with pytest.raises(CesqlParseError):
            parse(case["expression"])
        return

    event = dict(case["event"]) if "event" in case else dict(DEFAULT_EVENT)
    event.update(case.get("eventOverrides") or {})
    result = parse(case["expression"]).evaluate(event)

    kinds = {error.kind for error in result.errors}
    assert kinds == ({expected_error} if expected_error else set()), result.errors
    if "result" in case:
        expected = case["result"]
        assert (type(result.value), result.value) == (type(expected), expected)
