"""The KafkaSource kind (``sources.knative.dev/v1beta1``): records of Kafka topics as events.

A KafkaSource joins the consumer group ``spec.consumerGroup`` on the brokers of
``spec.bootstrapServers``, reads ``spec.topics`` from ``spec.initialOffset`` when the group
has no committed offsets yet, and sends every record to its sink as a CloudEvent (see
``shoal.sources.kafka``). The shape follows Knative's eventing-kafka-broker: defaults
(a generated consumer group, ``latest``, one consumer, ordered delivery), validation with
field paths, and the ``net`` block accepted for compatibility, with only plaintext
connections supported here: TLS or SASL set to enabled is refused at admission.

Called by admission in the API server; the Kafka adapter reads the model.
"""

from __future__ import annotations

import uuid

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.duck import DeliverySpec, check_optional_delivery, default_delivery
from shoal.api.errors import FieldErrors
from shoal.api.model import KObject, Model
from shoal.api.serving.container import SecretKeySelector
from shoal.api.sources.base import (
    SourceSpec,
    SourceStatus,
    check_source_spec,
    default_source_spec,
)
from shoal.api.types import AGE, READY, REASON, PrinterColumn, ResourceType

EVENT_TYPE = "dev.knative.kafka.event"
CONSUMER_GROUP_PREFIX = "knative-kafka-source-"
EARLIEST = "earliest"
LATEST = "latest"
OFFSETS = (EARLIEST, LATEST)
ORDERED = "ordered"
UNORDERED = "unordered"
ORDERINGS = (ORDERED, UNORDERED)
KEY_TYPE_ANNOTATION = "kafkasources.sources.knative.dev/key-type"
KEY_TYPES = ("string", "int", "float", "byte-array")


def event_source(namespace: str, name: str, topic: str) -> str:
    """The ``source`` attribute of the events a KafkaSource makes from ``topic``'s records."""
    return f"/apis/v1/namespaces/{namespace}/kafkasources/{name}#{topic}"


class SecretValueFromSource(Model):
    """Where a secret value comes from."""

    secret_key_ref: SecretKeySelector | None = None


class KafkaSASLSpec(Model):
    """SASL authentication; not supported by Shoal (``enable`` must stay false)."""

    enable: bool | None = None
    user: SecretValueFromSource | None = None
    password: SecretValueFromSource | None = None
    type: SecretValueFromSource | None = None


class KafkaTLSSpec(Model):
    """TLS to the brokers; not supported by Shoal (``enable`` must stay false)."""

    enable: bool | None = None
    cert: SecretValueFromSource | None = None
    key: SecretValueFromSource | None = None
    ca_cert: SecretValueFromSource | None = None


class KafkaNetSpec(Model):
    """How to reach the brokers: SASL and TLS settings."""

    sasl: KafkaSASLSpec | None = None
    tls: KafkaTLSSpec | None = None


class KafkaSourceSpec(SourceSpec):
    """The desired state of a KafkaSource."""

    consumers: int | None = Field(
        default=None,
        description="Number of desired consumers running in the consumer group. Defaults "
        "to 1.",
    )
    bootstrap_servers: list[str] | None = Field(
        default=None,
        description="Bootstrap servers are the Kafka servers the consumer will connect to "
        "(host:port). Required.",
    )
    net: KafkaNetSpec | None = Field(
        default=None, description="Net holds SASL and TLS settings; only plaintext is supported."
    )
    topics: list[str] | None = Field(
        default=None, description="Topics to consume messages from. Required."
    )
    consumer_group: str | None = Field(
        default=None,
        description="ConsumerGroup is the consumer group ID. Defaults to a generated "
        "knative-kafka-source-<uuid>; immutable.",
    )
    initial_offset: str | None = Field(
        default=None,
        description="InitialOffset is where a consumer group without committed offsets "
        "starts: earliest or latest (the default).",
    )
    delivery: DeliverySpec | None = Field(
        default=None, description="Delivery contains the delivery spec for this source."
    )
    ordering: str | None = Field(
        default=None,
        description="Ordering is ordered (the default: one event at a time per partition) "
        "or unordered.",
    )


class KafkaSourceStatus(SourceStatus):
    """The observed state of a KafkaSource."""

    consumers: int | None = Field(
        default=None, description="Total number of consumers actually running in the group."
    )
    selector: str | None = Field(
        default=None, description="Use for labelSelectorPath when scaling Kafka source."
    )
    claims: str | None = Field(
        default=None, description="Claims consumed by this KafkaSource instance."
    )


def _enabled(spec: KafkaSASLSpec | KafkaTLSSpec | None) -> bool:
    return spec is not None and bool(spec.enable)


class KafkaSource(KObject):
    """KafkaSource sends the records of Kafka topics to a sink as CloudEvents."""

    spec: KafkaSourceSpec = Field(default_factory=KafkaSourceSpec)
    status: KafkaSourceStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        spec = self.spec
        if not spec.consumer_group:
            old = ctx.old.spec.consumer_group if isinstance(ctx.old, KafkaSource) else None
            spec.consumer_group = old or f"{CONSUMER_GROUP_PREFIX}{uuid.uuid4()}"
        if spec.consumers is None:
            spec.consumers = 1
        if not spec.initial_offset:
            spec.initial_offset = LATEST
        if spec.ordering is None:
            spec.ordering = ORDERED
        default_source_spec(spec, self.namespace)
        default_delivery(spec.delivery, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        spec = self.spec
        at = errs.at("spec")
        check_source_spec(spec, ctx, at)
        if not spec.topics:
            at.required("topics")
        for i, topic in enumerate(spec.topics or []):
            if not topic.strip():
                at.at("topics", i).invalid(None, topic, "a topic name must not be empty")
        if not spec.bootstrap_servers:
            at.required("bootstrapServers")
        for i, server in enumerate(spec.bootstrap_servers or []):
            problem = _server_problem(server)
            if problem:
                at.at("bootstrapServers", i).invalid(None, server, problem)
        if spec.initial_offset not in OFFSETS:
            at.not_supported("initialOffset", spec.initial_offset, list(OFFSETS))
        if spec.ordering is not None and spec.ordering not in ORDERINGS:
            at.not_supported("ordering", spec.ordering, list(ORDERINGS))
        if spec.consumers is not None and spec.consumers < 1:
            at.invalid("consumers", spec.consumers, "must be at least 1")
        net = spec.net or KafkaNetSpec()
        if _enabled(net.tls):
            at.at("net").at("tls").forbidden(
                "enable", "TLS to Kafka is not supported by Shoal; only plaintext listeners")
        if _enabled(net.sasl):
            at.at("net").at("sasl").forbidden(
                "enable", "SASL to Kafka is not supported by Shoal; only plaintext listeners")
        check_optional_delivery(spec.delivery, ctx, at)
        key_type = (self.metadata.annotations or {}).get(KEY_TYPE_ANNOTATION)
        if key_type is not None and key_type not in KEY_TYPES:
            errs.at("metadata").at("annotations").index(KEY_TYPE_ANNOTATION).not_supported(
                None, key_type, list(KEY_TYPES))
        if isinstance(old, KafkaSource) and old.spec.consumer_group != spec.consumer_group:
            at.immutable("consumerGroup",
                         f"field is immutable (was {old.spec.consumer_group!r})")


def _server_problem(server: str) -> str | None:
    host, sep, port = server.strip().rpartition(":")
    if not sep or not host:
        return "must be host:port"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return "the port must be a number from 1 to 65535"
    return None



TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        "sources.knative.dev",
        "v1beta1",
        "KafkaSource",
        "kafkasources",
        KafkaSource,
        short_names=("kafkasource",),
        categories=("all", "knative", "eventing", "sources"),
        columns=(
            PrinterColumn("Topics", ".spec.topics"),
            PrinterColumn("BootstrapServers", ".spec.bootstrapServers"),
            READY,
            REASON,
            AGE,
        ),
        description="KafkaSource sends the records of Kafka topics to a sink as CloudEvents.",
    ),
)
