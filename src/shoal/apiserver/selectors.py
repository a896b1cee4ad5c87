"""Label and field selectors, in Kubernetes' syntax.

Labels: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``, joined by
commas. Fields: ``metadata.name=x``, ``metadata.namespace!=y`` (the fields every resource
supports). A selector that does not parse is a ``BadRequest`` naming the problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shoal.api.errors import BadRequest

Predicate = Callable[[dict[str, Any]], bool]

_SET_EXPR = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_EXPR = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "=":
            return value is not None and value in self.values
        if self.op == "!=":
            return value is None or value not in self.values
        if self.op == "in":
            return value in self.values
        if self.op == "notin":
            return value not in self.values
        if self.op == "exists":
            return value is not None
        return value is None


def parse_requirements(selector: str) -> list[Requirement]:
    requirements = []
    for part in _split(selector):
        eq = _EQ_EXPR.match(part)
        if eq:
            key, op, value = eq.groups()
            requirements.append(Requirement(key, "!=" if op == "!=" else "=",
                                            frozenset([value])))
            continue
        st = _SET_EXPR.match(part)
        if not st or (st.group(1) and st.group(3)):
            raise BadRequest(f"unable to parse requirement: invalid label selector: {part!r}")
        neg, key, op, values = st.groups()
        if op:
            options = frozenset(v.strip() for v in values.split(",") if v.strip())
            requirements.append(Requirement(key, op, options))
        else:
            requirements.append(Requirement(key, "!" if neg else "exists"))
    return requirements


def parse_label_selector(selector: str) -> Predicate:
    requirements = parse_requirements(selector)

    def matches(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(r.matches(labels) for r in requirements)

    return matches


_FIELDS = ("metadata.name", "metadata.namespace")


def parse_field_selector(selector: str) -> Predicate:
    requirements = []
    for part in _split(selector):
        eq = _EQ_EXPR.match(part)
        if not eq:
            raise BadRequest(f"invalid field selector: {part!r}")
        key, op, value = eq.groups()
        if key not in _FIELDS:
            raise BadRequest(f'field label not supported: "{key}"')
        requirements.append(Requirement(key.split(".", 1)[1], "!=" if op == "!=" else "=",
                                        frozenset([value])))

    def matches(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        fields = {"name": str(meta.get("name", "")),
                  "namespace": str(meta.get("namespace", ""))}
        return all(r.matches(fields) for r in requirements)

    return matches


def selector_predicate(label_selector: str, field_selector: str) -> Predicate | None:
    """One predicate for both selectors, or None when neither filters anything."""
    predicates = []
    if label_selector.strip():
        predicates.append(parse_label_selector(label_selector))
    if field_selector.strip():
        predicates.append(parse_field_selector(field_selector))
    if not predicates:
        return None

    def matches(obj: dict[str, Any]) -> bool:
        return all(p(obj) for p in predicates)

    return matches
