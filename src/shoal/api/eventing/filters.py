"""Trigger filters: the attribute filter and the Subscriptions API filter dialects.

``TriggerFilter`` is the classic ``spec.filter.attributes`` map (exact match; an empty value
means "the attribute must exist"). ``SubscriptionsAPIFilter`` is one element of
``spec.filters``: exactly one of the dialects ``exact``, ``prefix``, ``suffix``, ``all``,
``any``, ``not`` or ``cesql``, nested as deep as needed. Attribute names follow CloudEvents:
lower-case letters and digits, starting with a letter.

CESQL expressions are parsed at admission so a broken one is refused up front. The parser
lives in ``shoal.cesql``; it is looked up at call time, and when it is not installed the
expression is accepted as written.

Called by the Trigger kind (and by ApiServerSource, which takes the same filters).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from pydantic import Field

from shoal.api.errors import FieldErrors
from shoal.api.model import Model

ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9]*$")
_ATTRIBUTE_NAME_DETAIL = (
    "Attribute name must start with a letter and can only contain lowercase alphanumeric"
)
DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")


class TriggerFilter(Model):
    """Filters events by exact match on CloudEvents attributes."""

    attributes: dict[str, str] | None = Field(
        default=None,
        description="Attributes filters events by exact match on event context attributes. "
        "Each key is an attribute name; an empty value means the attribute must exist.",
    )


class SubscriptionsAPIFilter(Model):
    """One filter of the CloudEvents Subscriptions API; exactly one dialect may be set."""

    all: list[SubscriptionsAPIFilter] | None = Field(
        default=None, description="All evaluates to true if all the nested filters match."
    )
    any: list[SubscriptionsAPIFilter] | None = Field(
        default=None, description="Any evaluates to true if at least one nested filter matches."
    )
    not_: SubscriptionsAPIFilter | None = Field(
        default=None,
        alias="not",
        description="Not evaluates to true if the nested filter does not match.",
    )
    exact: dict[str, str] | None = Field(
        default=None, description="Exact matches one attribute's value exactly."
    )
    prefix: dict[str, str] | None = Field(
        default=None, description="Prefix matches one attribute's value by its prefix."
    )
    suffix: dict[str, str] | None = Field(
        default=None, description="Suffix matches one attribute's value by its suffix."
    )
    cesql: str | None = Field(
        default=None,
        description="CESQL is a CloudEvents SQL expression that must evaluate to true.",
    )

    def dialects(self) -> list[str]:
        """The dialects set on this filter, by their wire names."""
        values: dict[str, Any] = {
            "exact": self.exact,
            "prefix": self.prefix,
            "suffix": self.suffix,
            "all": self.all,
            "any": self.any,
            "not": self.not_,
            "cesql": self.cesql,
        }
        return [name for name in DIALECTS if values[name] is not None]


def cesql_error(expression: str) -> str | None:
    """Why a CESQL expression does not parse, or None if it does (or no parser is present)."""
    try:
        module = importlib.import_module("shoal.cesql")
    except ModuleNotFoundError as e:
        if e.name in ("shoal.cesql", "shoal"):
            return None
        raise
    parse_error: type[Exception] = module.CesqlParseError
    try:
        module.parse(expression)
    except parse_error as e:
        return str(e) or "invalid CESQL expression"
    return None


def check_trigger_filter(flt: TriggerFilter, errs: FieldErrors) -> None:
    for name in flt.attributes or {}:
        if not ATTRIBUTE_NAME.match(name):
            errs.at("attributes", name).invalid(None, name, _ATTRIBUTE_NAME_DETAIL)


def _check_single_attribute(
    attrs: dict[str, str], errs: FieldErrors, *, non_empty_value: bool
) -> None:
    if len(attrs) != 1:
        errs.invalid(None, len(attrs), "must have exactly one key-value")
    for name, value in attrs.items():
        if not ATTRIBUTE_NAME.match(name):
            errs.index(name).invalid(None, name, _ATTRIBUTE_NAME_DETAIL)
        elif non_empty_value and not value:
            errs.index(name).invalid(None, value, "must not be empty")


def check_filter(flt: SubscriptionsAPIFilter, errs: FieldErrors) -> None:
    """Check one Subscriptions API filter; ``errs`` points at the filter itself."""
    dialects = flt.dialects()
    if not dialects:
        errs.required(None, "expected exactly one, got neither: " + ", ".join(DIALECTS))
    elif len(dialects) > 1:
        errs.invalid(
            None,
            ", ".join(dialects),
            "multiple dialects found, filters can have only one dialect set",
        )
    if flt.exact is not None:
        _check_single_attribute(flt.exact, errs.at("exact"), non_empty_value=False)
    if flt.prefix is not None:
        _check_single_attribute(flt.prefix, errs.at("prefix"), non_empty_value=True)
    if flt.suffix is not None:
        _check_single_attribute(flt.suffix, errs.at("suffix"), non_empty_value=True)
    for name, nested in (("all", flt.all), ("any", flt.any)):
        if nested is None:
            continue
        if not nested:
            errs.required(name, f"{name} must contain at least one nested filter")
        check_filters(nested, errs.at(name))
    if flt.not_ is not None:
        check_filter(flt.not_, errs.at("not"))
    if flt.cesql is not None:
        problem = cesql_error(flt.cesql) if flt.cesql.strip() else "must not be empty"
        if problem:
            errs.invalid("cesql", flt.cesql, problem)


def check_filters(filters: list[SubscriptionsAPIFilter], errs: FieldErrors) -> None:
    """Check a list of filters; ``errs`` points at the list."""
    for i, flt in enumerate(filters):
        check_filter(flt, errs.index(i))
