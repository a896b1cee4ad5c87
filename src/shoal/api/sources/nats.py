"""The NatsSource kind (``sources.knative.dev/v1alpha1``): messages of a NATS subject as events.

Knative has no core NATS source; this kind is shaped like its KafkaSource (``bootstrap
servers`` → ``servers``, ``topics`` → ``subject``, ``consumerGroup`` → ``queueGroup``) plus
the JetStream reading of a durable consumer (``jetstream``). Defaulting fills ``servers``
from ``url`` of ``config-nats`` in ``knative-eventing``, and for JetStream the durable
consumer's name and its deliver policy. Validation names every bad field. Called by
admission in the API server; the adapter (``shoal.sources.nats``) reads the helpers here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field

from shoal.api.config import DEFAULT_NATS_URL, EVENTING_NS, AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import KObject, Model
from shoal.api.sources.base import (
    SourceSpec,
    SourceStatus,
    check_source_spec,
    default_source_spec,
)

EVENT_TYPE = "dev.knative.nats.event"
SCHEMES = ("nats", "tls")
DELIVER_POLICIES = ("all", "new", "last")
DEFAULT_DELIVER_POLICY = "all"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # JetStream stream and consumer names


class NatsJetStream(Model):
    """Read the subject through a JetStream stream with a durable consumer."""

    stream: str | None = Field(
        default=None, description="Stream is the JetStream stream that holds the subject. "
        "Required."
    )
    consumer: str | None = Field(
        default=None, description="Consumer is the durable consumer's name; its position "
        "survives restarts. Defaults to knative-<namespace>-<name>."
    )
    deliver_policy: str | None = Field(
        default=None, description="DeliverPolicy is where a new consumer starts: all, new or "
        "last. Defaults to all."
    )


class NatsSourceSpec(SourceSpec):
    """The desired state of a NatsSource."""

    servers: list[str] | str | None = Field(
        default=None, description="Servers are the NATS URLs (nats://host:port), as a list "
        "or a comma-separated string. Defaults to url of config-nats."
    )
    subject: str | None = Field(
        default=None, description="Subject to subscribe to; * matches one token, > the rest. "
        "Required."
    )
    queue_group: str | None = Field(
        default=None, description="QueueGroup shares the subject's messages among every "
        "subscriber of the group (core NATS only)."
    )
    jetstream: NatsJetStream | None = Field(
        default=None, description="JetStream reads the subject from a stream with a durable "
        "consumer and acknowledges each message after its delivery to the sink."
    )


class NatsSource(KObject):
    """NatsSource sends the messages of a NATS subject to a sink as CloudEvents."""

    spec: NatsSourceSpec = Field(default_factory=NatsSourceSpec)
    status: SourceStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        spec = self.spec
        if not spec.servers:
            spec.servers = [ctx.config.value(EVENTING_NS, "config-nats", "url")
                            or DEFAULT_NATS_URL]
        if spec.jetstream is not None:
            if not spec.jetstream.consumer:
                spec.jetstream.consumer = default_consumer(self.namespace, self.name)
            if not spec.jetstream.deliver_policy:
                spec.jetstream.deliver_policy = DEFAULT_DELIVER_POLICY
        default_source_spec(spec, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        spec = self.spec
        at = errs.at("spec")
        check_source_spec(spec, ctx, at)
        servers = server_list(spec.servers)
        if not servers:
            at.required("servers")
        for i, url in enumerate(servers):
            problem = url_problem(url)
            if problem:
                at.at("servers", i).invalid(None, url, problem)
        if not spec.subject:
            at.required("subject")
        else:
            problem = subject_problem(spec.subject)
            if problem:
                at.invalid("subject", spec.subject, problem)
        if spec.queue_group is not None and not re.fullmatch(r"[^\s.*>]+", spec.queue_group):
            at.invalid("queueGroup", spec.queue_group,
                       "must be one token: no spaces, dots or wildcards")
        js = spec.jetstream
        if js is None:
            return
        js_at = at.at("jetstream")
        if spec.queue_group:
            at.forbidden("queueGroup", "may not be set with jetstream: readers of one durable "
                         "consumer already share its messages")
        if not js.stream:
            js_at.required("stream")
        elif not _NAME.match(js.stream):
            js_at.invalid("stream", js.stream, "must be letters, digits, - and _")
        if js.consumer and not _NAME.match(js.consumer):
            js_at.invalid("consumer", js.consumer, "must be letters, digits, - and _")
        if js.deliver_policy and js.deliver_policy not in DELIVER_POLICIES:
            js_at.not_supported("deliverPolicy", js.deliver_policy, list(DELIVER_POLICIES))
        was = old.spec.jetstream if isinstance(old, NatsSource) else None
        if was is not None and was.consumer != js.consumer:
            js_at.immutable("consumer")


def default_consumer(namespace: str, name: str) -> str:
    return f"knative-{namespace}-{name.replace('.', '_')}"


def server_list(servers: list[str] | str | None) -> list[str]:
    """The servers as a list, whichever way they were written."""
    items = servers.split(",") if isinstance(servers, str) else servers or []
    return [s.strip() for s in items if s.strip()]


def url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return "must be a nats:// or tls:// URL"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "has an invalid port"
    if not parts.hostname:
        return "must name a host"
    return None


def subject_problem(subject: str) -> str | None:
    """Why a subscription subject is not valid NATS, or None."""
    if any(c.isspace() for c in subject):
        return "must not contain whitespace"
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if not token:
            return "must not have empty tokens (leading, trailing or double dots)"
        if token == ">" and i != len(tokens) - 1:
            return "> may only be the last token"
        if token not in ("*", ">") and ("*" in token or ">" in token):
            return "wildcards * and > must be whole tokens"
    return None


def event_source(namespace: str, name: str, subject: str) -> str:
    """The ``source`` attribute of the events a NatsSource wraps."""
    return f"/apis/v1/namespaces/{namespace}/natssources/{name}#{subject}"
