"""The Trigger kind (``eventing.knative.dev/v1``): spec, status, defaults and validation.

A Trigger subscribes a destination to the events of one Broker that pass its filters. The
broker cannot change after creation. Defaulting labels the trigger with its broker
(``eventing.knative.dev/broker``), sets an empty attribute filter (match everything) and
puts references in the trigger's namespace. Two annotations shape its delivery (read by
the dispatchers through ``ordered`` and ``max_in_flight``, checked at admission):
``shoal.dev/delivery-order`` (``ordered`` or ``unordered``; Knative's Kafka broker spelling
``kafka.eventing.knative.dev/delivery.order`` too) and ``shoal.dev/max-in-flight`` (a
positive integer). Called by admission in the API server.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from shoal.api.config import EVENTING_NS, AdmissionContext
from shoal.api.duck import (
    DeliverySpec,
    check_optional_delivery,
    check_required_destination,
    default_delivery,
    default_destination,
)
from shoal.api.errors import FieldErrors
from shoal.api.eventing.filters import (
    SubscriptionsAPIFilter,
    TriggerFilter,
    check_filters,
    check_trigger_filter,
)
from shoal.api.model import Destination, KObject, Model, Status

BROKER_LABEL = "eventing.knative.dev/broker"
ORDER_ANNOTATIONS = ("shoal.dev/delivery-order", "kafka.eventing.knative.dev/delivery.order")
ORDERS = ("ordered", "unordered")
MAX_IN_FLIGHT_ANNOTATION = "shoal.dev/max-in-flight"
DEFAULT_MAX_IN_FLIGHT = 100


def ordered(annotations: Mapping[str, str] | None) -> bool:
    """Whether a Trigger's events go out one at a time, in log order."""
    return any((annotations or {}).get(key) == "ordered" for key in ORDER_ANNOTATIONS)


def _positive(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and int(value) > 0 else None


def max_in_flight(annotations: Mapping[str, str] | None) -> int:
    """A Trigger's limit on deliveries at once (the default when the annotation is not a
    positive integer, which admission refuses)."""
    return _positive((annotations or {}).get(MAX_IN_FLIGHT_ANNOTATION, "")) \
        or DEFAULT_MAX_IN_FLIGHT


def check_delivery_annotations(annotations: Mapping[str, str] | None,
                               errs: FieldErrors) -> None:
    """Refuse a delivery order or an in-flight limit Shoal cannot follow (``errs`` at the
    annotations)."""
    annotations = annotations or {}
    for key in ORDER_ANNOTATIONS:
        if key in annotations and annotations[key] not in ORDERS:
            errs.not_supported(key, annotations[key], list(ORDERS))
    value = annotations.get(MAX_IN_FLIGHT_ANNOTATION)
    if value is not None and _positive(value) is None:
        errs.invalid(MAX_IN_FLIGHT_ANNOTATION, value, "must be a positive integer")


class TriggerSpec(Model):
    """The desired state of a Trigger."""

    broker: str | None = Field(
        default=None,
        description="Broker is the broker that this trigger receives events from. Immutable.",
    )
    filter: TriggerFilter | None = Field(
        default=None,
        description="Filter is the filter to apply against all events from the "
        "Broker. Only events that pass this filter will be sent to the Subscriber.",
    )
    filters: list[SubscriptionsAPIFilter] | None = Field(
        default=None,
        description="Filters is a list of Subscriptions API filters; an event "
        "is delivered only if all of them match. When filters is set, filter is ignored.",
    )
    subscriber: Destination | None = Field(
        default=None,
        description="Subscriber is the addressable that receives events from "
        "the Broker that pass the Filter. Required.",
    )
    delivery: DeliverySpec | None = Field(
        default=None,
        description="Delivery contains the delivery spec for this specific "
        "trigger; it overrides the broker's.",
    )


class TriggerStatus(Status):
    """The observed state of a Trigger."""

    subscriber_uri: str | None = Field(
        default=None, description="SubscriberUri is the resolved URI of the receiver."
    )
    subscriber_ca_certs: str | None = Field(default=None, alias="subscriberCACerts")
    subscriber_audience: str | None = None
    dead_letter_sink_uri: str | None = None
    dead_letter_sink_ca_certs: str | None = Field(default=None, alias="deadLetterSinkCACerts")
    dead_letter_sink_audience: str | None = None


class Trigger(KObject):
    """Trigger represents a request to have events delivered to a subscriber from a Broker's
    event pool."""

    spec: TriggerSpec = Field(default_factory=TriggerSpec)
    status: TriggerStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        spec = self.spec
        if spec.filter is None:
            spec.filter = TriggerFilter()
        default_destination(spec.subscriber, self.namespace)
        default_delivery(spec.delivery, self.namespace)
        if spec.broker:
            labels = dict(self.metadata.labels or {})
            labels[BROKER_LABEL] = spec.broker
            self.metadata.labels = labels

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        spec = errs.at("spec")
        if not self.spec.broker:
            spec.required("broker")
        if self.spec.filter is not None:
            check_trigger_filter(self.spec.filter, spec.at("filter"))
        new_filters = ctx.config.feature(EVENTING_NS, "new-trigger-filters") == "enabled"
        if self.spec.filters is not None and new_filters:
            check_filters(self.spec.filters, spec.at("filters"))
        check_required_destination(self.spec.subscriber, "subscriber", ctx, spec)
        check_optional_delivery(self.spec.delivery, ctx, spec)
        if isinstance(old, Trigger) and old.spec.broker != self.spec.broker:
            spec.immutable("broker")
        check_delivery_annotations(self.metadata.annotations,
                                   errs.at("metadata").at("annotations"))
