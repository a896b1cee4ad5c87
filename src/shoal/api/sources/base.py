"""The Source duck type shared by every source kind, and Kubernetes label selectors.

Every source has a ``sink`` (where its events go) and optional ``ceOverrides`` (extension
attributes added to each event); its status reports the resolved ``sinkUri`` and the
CloudEvents attributes it emits. Label selectors pick the objects ApiServerSource watches and
the subjects SinkBinding binds. Used by the source kinds during admission.
"""

from __future__ import annotations

import re

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.duck import check_required_destination, default_destination
from shoal.api.errors import FieldErrors
from shoal.api.model import Destination, Model, Status
from shoal.api.names import label_value, qualified_name

_EXTENSION_NAME = re.compile(r"^[A-Za-z0-9]+$")
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class CloudEventOverrides(Model):
    """Overrides applied to the CloudEvents a source emits."""

    extensions: dict[str, str] | None = Field(
        default=None,
        description="Extensions specify what attribute are added or overridden "
        "on the outbound event. Each key-value pair is set as an attribute extension "
        "independently.",
    )


class CloudEventAttributes(Model):
    """The type and source of events a source can emit."""

    type: str | None = None
    source: str | None = None


class SourceStatus(Status):
    """The observed state of a source."""

    sink_uri: str | None = Field(
        default=None,
        description="SinkURI is the current active sink URI that has been "
        "configured for the Source.",
    )
    sink_ca_certs: str | None = Field(default=None, alias="sinkCACerts")
    sink_audience: str | None = None
    ce_attributes: list[CloudEventAttributes] | None = Field(
        default=None,
        description="CloudEventAttributes are the specific attributes that the "
        "Source uses as part of its CloudEvents.",
    )


class SourceSpec(Model):
    """What every source has: a sink and optional CloudEvents overrides."""

    sink: Destination | None = Field(
        default=None,
        description="Sink is a reference to an object that will resolve to a "
        "URI to use as the sink. Required.",
    )
    ce_overrides: CloudEventOverrides | None = Field(
        default=None,
        description="CloudEventOverrides defines overrides to control the "
        "output format and modifications of the event sent to the sink.",
    )


def default_source_spec(spec: SourceSpec, namespace: str) -> None:
    default_destination(spec.sink, namespace)


def check_source_spec(spec: SourceSpec, ctx: AdmissionContext, errs: FieldErrors) -> None:
    """The sink is required; extension names are letters and digits. ``errs`` is ``spec``."""
    check_required_destination(spec.sink, "sink", ctx, errs)
    if spec.ce_overrides is not None:
        at = errs.at("ceOverrides").at("extensions")
        for key in spec.ce_overrides.extensions or {}:
            if not key:
                at.index(key).invalid(None, key, "keys MUST NOT be empty")
            elif not _EXTENSION_NAME.match(key):
                at.index(key).invalid(None, key, "keys are expected to be alphanumeric")


class LabelSelectorRequirement(Model):
    """A selector requirement: a key, an operator and (for In/NotIn) values."""

    key: str | None = None
    operator: str | None = Field(
        default=None, description="Operator is In, NotIn, Exists or DoesNotExist."
    )
    values: list[str] | None = None


class LabelSelector(Model):
    """A label query over a set of objects; all requirements must match."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


def check_label_selector(selector: LabelSelector, errs: FieldErrors) -> None:
    """Kubernetes' rules for label selectors; ``errs`` points at the selector."""
    labels = errs.at("matchLabels")
    for key, value in (selector.match_labels or {}).items():
        for problem in qualified_name(key):
            labels.invalid(None, key, problem)
        for problem in label_value(value):
            labels.index(key).invalid(None, value, problem)
    for i, req in enumerate(selector.match_expressions or []):
        at = errs.at("matchExpressions", i)
        if not req.key:
            at.required("key")
        else:
            for problem in qualified_name(req.key):
                at.invalid("key", req.key, problem)
        if req.operator not in SELECTOR_OPERATORS:
            at.not_supported("operator", req.operator, list(SELECTOR_OPERATORS))
        elif req.operator in ("In", "NotIn") and not req.values:
            at.required("values", "must be specified when `operator` is 'In' or 'NotIn'")
        elif req.operator in ("Exists", "DoesNotExist") and req.values:
            at.forbidden(
                "values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            )
