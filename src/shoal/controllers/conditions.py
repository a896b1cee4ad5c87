"""Condition sets, declared once per kind, and the manager reconcilers mark conditions with.

Each kind declares its set once, next to its reconciler or model::

    SERVICE_CONDITIONS = ConditionSet(happy="Ready",
                                      dependents=["ConfigurationsReady", "RoutesReady"])

and a reconciler manages the conditions of one status through it::

    conds = SERVICE_CONDITIONS.manage(service.status)
    conds.initialize()
    conds.mark_false("RoutesReady", "RouteMissing", 'Route "hello" is missing')

The manager works on the ``Condition`` model of ``shoal.api.model``: ``status`` is any
object with a ``conditions: list[Condition] | None`` attribute (the ``Status`` model and
every kind's status built on it). It follows Knative's ``apis.ConditionSet``:

- the happy condition (``Ready``, or ``Succeeded`` for run-to-completion kinds) is derived
  from the dependents: any False one makes it False with that dependent's reason and
  message (the one just marked, else the first declared), else any Unknown (or missing)
  one makes it Unknown likewise, else it is True;
- the happy condition and the dependents have severity Error (written as no ``severity``);
  other conditions are informational: ``Info`` by default, or ``Warning``, and never
  affect the happy condition unless marked True;
- conditions are kept sorted by type, as Knative does for kubectl's sake;
- marking a condition to what it already is changes nothing. ``lastTransitionTime`` is
  left alone: the engine stamps it on conditions that changed when it writes the status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from shoal.api.model import Condition

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"

SEVERITY_ERROR = ""  # Knative's ConditionSeverityError; omitted on the wire
SEVERITY_WARNING = "Warning"
SEVERITY_INFO = "Info"


class HasConditions(Protocol):
    conditions: list[Condition] | None


@dataclass(frozen=True, init=False)
class ConditionSet:
    happy: str
    dependents: tuple[str, ...]

    def __init__(self, happy: str = "Ready", dependents: Iterable[str] = ()) -> None:
        deps: list[str] = []
        for d in dependents:
            if d != happy and d not in deps:
                deps.append(d)
        object.__setattr__(self, "happy", happy)
        object.__setattr__(self, "dependents", tuple(deps))

    def is_terminal(self, type: str) -> bool:
        """The happy condition and its dependents (severity Error)."""
        return type == self.happy or type in self.dependents

    def manage(self, status: HasConditions) -> ConditionManager:
        return ConditionManager(self, status)


def make_condition(
    type: str, status: str, reason: str = "", message: str = "", severity: str = ""
) -> Condition:
    """A condition with only the non-empty fields set (so empty ones are not written)."""
    fields: dict[str, str] = {"type": type, "status": status}
    if severity:
        fields["severity"] = severity
    if reason:
        fields["reason"] = reason
    if message:
        fields["message"] = message
    return Condition(**fields)


def _same(a: Condition, b: Condition) -> bool:
    return all(
        (getattr(a, f) or "") == (getattr(b, f) or "")
        for f in ("type", "status", "severity", "reason", "message")
    )


class ConditionManager:
    def __init__(self, conditions: ConditionSet, status: HasConditions) -> None:
        self.cset = conditions
        self.status = status

    # -- reading ---------------------------------------------------------------------------

    def get(self, type: str) -> Condition | None:
        for cond in self.status.conditions or []:
            if cond.type == type:
                return cond
        return None

    def happy(self) -> Condition | None:
        """The top-level condition."""
        return self.get(self.cset.happy)

    def is_happy(self) -> bool:
        cond = self.happy()
        return cond is not None and cond.status == TRUE

    def is_true(self, type: str) -> bool:
        cond = self.get(type)
        return cond is not None and cond.status == TRUE

    def is_false(self, type: str) -> bool:
        cond = self.get(type)
        return cond is not None and cond.status == FALSE

    # -- writing ---------------------------------------------------------------------------

    def set(self, cond: Condition) -> None:
        """Put ``cond`` in place of the condition of its type, unless nothing changed."""
        current = self.get(cond.type)
        if current is not None and _same(current, cond):
            return
        others = [c for c in self.status.conditions or [] if c.type != cond.type]
        self.status.conditions = sorted([*others, cond], key=lambda c: c.type)

    def clear(self, type: str) -> None:
        """Remove a non-terminal condition."""
        if self.cset.is_terminal(type):
            raise ValueError(f"cannot clear terminal condition {type!r}")
        if self.get(type) is not None:
            self.status.conditions = [c for c in self.status.conditions or [] if c.type != type]

    def initialize(self) -> None:
        """Add the happy condition and the dependents as Unknown where missing (as True
        where missing if the happy condition is already True)."""
        happy = self.happy()
        if happy is None:
            happy = make_condition(self.cset.happy, UNKNOWN)
            self.set(happy)
        status = TRUE if happy.status == TRUE else UNKNOWN
        for dep in self.cset.dependents:
            if self.get(dep) is None:
                self.set(make_condition(dep, status))

    def mark_true(
        self, type: str, reason: str = "", message: str = "", severity: str = SEVERITY_INFO
    ) -> None:
        """Mark ``type`` True; the happy condition becomes True if every dependent is."""
        self.set(make_condition(type, TRUE, reason, message, self._severity(type, severity)))
        self._derive_happy(prefer=None, keep_true=type == self.cset.happy)

    def mark_false(
        self, type: str, reason: str, message: str = "", severity: str = SEVERITY_INFO
    ) -> None:
        """Mark ``type`` False; a False dependent makes the happy condition False too."""
        self.set(make_condition(type, FALSE, reason, message, self._severity(type, severity)))
        if type in self.cset.dependents:
            self._derive_happy(prefer=type)

    def mark_unknown(
        self, type: str, reason: str, message: str = "", severity: str = SEVERITY_INFO
    ) -> None:
        """Mark ``type`` Unknown; an Unknown dependent makes the happy condition Unknown
        unless another dependent is False."""
        self.set(make_condition(type, UNKNOWN, reason, message, self._severity(type, severity)))
        if type in self.cset.dependents:
            self._derive_happy(prefer=type)

    def _severity(self, type: str, requested: str) -> str:
        if self.cset.is_terminal(type):
            return SEVERITY_ERROR
        return requested or SEVERITY_INFO

    def _derive_happy(self, prefer: str | None, keep_true: bool = False) -> None:
        deps = {d: self.get(d) for d in self.cset.dependents}
        for status in (FALSE, UNKNOWN):
            unhappy = [d for d, c in deps.items() if (c.status if c else UNKNOWN) == status]
            if not unhappy:
                continue
            source = deps[prefer if prefer in unhappy else unhappy[0]]
            reason = (source.reason or "") if source else ""
            message = (source.message or "") if source else ""
            self.set(make_condition(self.cset.happy, status, reason, message))
            return
        if not keep_true:
            self.set(make_condition(self.cset.happy, TRUE))
