"""The Broker kind (``eventing.knative.dev/v1``): spec, status, defaults and validation.

A Broker is an event mesh: producers send CloudEvents to its address, Triggers subscribe to
it. Its class (annotation ``eventing.knative.dev/broker.class``) picks the implementation
and, with ``spec.config``, cannot change after creation; ``spec.delivery`` can.

Defaults come from ``config-br-defaults`` (see ``brokerconfig``). Called by admission in the
API server through the kind's ``apply_defaults`` and ``check``.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.duck import (
    AddressableStatus,
    DeliverySpec,
    check_kreference,
    check_optional_delivery,
    default_delivery,
    default_kreference,
)
from shoal.api.errors import FieldErrors
from shoal.api.eventing.brokerconfig import BrokerDefaults
from shoal.api.model import KObject, KReference, Model

BROKER_CLASS_ANNOTATION = "eventing.knative.dev/broker.class"


class BrokerSpec(Model):
    """The desired state of a Broker."""

    config: KReference | None = Field(
        default=None,
        description="Config is a reference to a configuration object for the broker class "
        "(e.g. a ConfigMap). Immutable.",
    )
    delivery: DeliverySpec | None = Field(
        default=None,
        description="Delivery contains the delivery options used by triggers of this broker "
        "unless a trigger sets its own.",
    )


class BrokerStatus(AddressableStatus):
    """The observed state of a Broker."""

    dead_letter_sink_uri: str | None = Field(
        default=None, description="DeadLetterSinkUri is the resolved URI of the dead-letter sink."
    )
    dead_letter_sink_ca_certs: str | None = Field(default=None, alias="deadLetterSinkCACerts")
    dead_letter_sink_audience: str | None = None


class Broker(KObject):
    """Broker collects a pool of events that are consumable using Triggers."""

    spec: BrokerSpec = Field(default_factory=BrokerSpec)
    status: BrokerStatus | None = None

    @property
    def broker_class(self) -> str:
        return (self.metadata.annotations or {}).get(BROKER_CLASS_ANNOTATION, "")

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        defaults = BrokerDefaults.from_config(ctx.config)
        if not self.broker_class:
            annotations = dict(self.metadata.annotations or {})
            annotations[BROKER_CLASS_ANNOTATION] = defaults.broker_class(self.namespace)
            self.metadata.annotations = annotations
        self.model_fields_set.add("spec")
        spec = self.spec
        if spec.config is None:
            config = defaults.config(self.namespace, self.broker_class)
            if config is not None:
                spec.config = config
        if spec.delivery is None:
            delivery = defaults.delivery(self.namespace, self.broker_class)
            if delivery is not None:
                spec.delivery = delivery
        default_kreference(spec.config, self.namespace)
        default_delivery(spec.delivery, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        annotations = errs.at("metadata").at("annotations")
        if not self.broker_class:
            annotations.index(BROKER_CLASS_ANNOTATION).required()
        spec = errs.at("spec")
        if self.spec.config is not None:
            check_kreference(self.spec.config, ctx, spec.at("config"))
        check_optional_delivery(self.spec.delivery, ctx, spec)
        if isinstance(old, Broker):
            if old.broker_class != self.broker_class:
                annotations.index(BROKER_CLASS_ANNOTATION).immutable()
            if old.spec.config != self.spec.config:
                spec.immutable("config")
