"""Knative's eventing duck types shared by many kinds: delivery options and destinations.

``DeliverySpec`` (retries, backoff, timeout, dead-letter sink) appears on brokers, triggers,
channels, subscriptions and flows; ``Destination`` and ``KReference`` (defined with the base
models) are checked and defaulted here the way Knative's duck types do it. The ISO-8601
duration parser turns ``PT0.2S`` into seconds; admission uses it to validate delivery
options and the dispatchers reuse it to compute backoff and timeouts.

Called by the eventing, messaging, flows and sources kinds during admission.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field

from shoal.api.config import EVENTING_NS, AdmissionContext
from shoal.api.errors import REQUIRED, FieldErrors
from shoal.api.model import Addressable, Destination, KReference, Model, Status

BACKOFF_POLICIES = ("linear", "exponential")
DELIVERY_FORMATS = ("json", "binary")

_NUMBER = r"\d+(?:[.,]\d+)?"
_ISO_DURATION = re.compile(
    rf"^(?P<sign>[-+])?P(?!$)"
    rf"(?:(?P<Y>{_NUMBER})Y)?(?:(?P<Mo>{_NUMBER})M)?(?:(?P<W>{_NUMBER})W)?(?:(?P<D>{_NUMBER})D)?"
    rf"(?:T(?=\d)(?:(?P<H>{_NUMBER})H)?(?:(?P<Mi>{_NUMBER})M)?(?:(?P<S>{_NUMBER})S)?)?$"
)
_DAY = 86400.0
# Years and months have no fixed length; these are the usual averages (Gregorian year).
_UNIT_SECONDS = {
    "Y": 365.2425 * _DAY,
    "Mo": 365.2425 * _DAY / 12,
    "W": 7 * _DAY,
    "D": _DAY,
    "H": 3600.0,
    "Mi": 60.0,
    "S": 1.0,
}


def parse_iso8601_duration(text: str) -> float | None:
    """Seconds in an ISO-8601 duration (``PT0.2S``, ``PT1M``, ``P1DT2H``), or None.

    Only the smallest unit given may carry a fraction (``PT1.5M`` but not ``PT1.5M3S``);
    a leading ``-`` gives a negative duration.
    """
    m = _ISO_DURATION.match(text)
    if m is None:
        return None
    parts = [(unit, m.group(unit)) for unit in _UNIT_SECONDS if m.group(unit) is not None]
    if not parts:
        return None
    total = 0.0
    for i, (unit, number) in enumerate(parts):
        has_fraction = "." in number or "," in number
        if has_fraction and i != len(parts) - 1:
            return None
        total += float(number.replace(",", ".")) * _UNIT_SECONDS[unit]
    return -total if m.group("sign") == "-" else total


class DeliverySpec(Model):
    """Delivery options for event senders: retries, backoff, timeout and a dead-letter sink."""

    dead_letter_sink: Destination | None = Field(
        default=None,
        description="DeadLetterSink is the sink receiving events that could not be sent to a "
        "destination.",
    )
    retry: int | None = Field(
        default=None,
        description="Retry is the minimum number of retries the sender should attempt when "
        "sending an event before moving it to the dead letter sink.",
    )
    timeout: str | None = Field(
        default=None,
        description="Timeout is the timeout of each single request, an ISO-8601 duration "
        "greater than zero (e.g. PT10S).",
    )
    backoff_policy: str | None = Field(
        default=None,
        description="BackoffPolicy is the retry backoff policy: linear or exponential.",
    )
    backoff_delay: str | None = Field(
        default=None,
        description="BackoffDelay is the delay before retrying, an ISO-8601 duration (e.g. "
        "PT0.2S). Linear: backoffDelay*<numberOfRetries>; exponential: "
        "backoffDelay*2^<numberOfRetries>.",
    )
    retry_after_max: str | None = Field(
        default=None,
        description="RetryAfterMax is an upper bound on the duration of a Retry-After header "
        "honoured for 429 and 503 responses, an ISO-8601 duration; PT0S opts out.",
    )
    format: str | None = Field(
        default=None,
        description="Format is the event format for delivery: json (structured) or binary.",
    )


class AddressableStatus(Status):
    """Knative's duck status of an addressable object: where to send events."""

    address: Addressable | None = Field(
        default=None, description="Address is the URL at which the object accepts events."
    )
    addresses: list[Addressable] | None = None


# --- defaulting ---------------------------------------------------------------------------


def default_destination(dest: Destination | None, namespace: str) -> None:
    """Default a destination's ref namespace to the namespace of the object holding it."""
    if dest is not None and dest.ref is not None and not dest.ref.namespace:
        dest.ref.namespace = namespace


def default_kreference(ref: KReference | None, namespace: str) -> None:
    if ref is not None and not ref.namespace:
        ref.namespace = namespace


def default_delivery(delivery: DeliverySpec | None, namespace: str) -> None:
    if delivery is not None:
        default_destination(delivery.dead_letter_sink, namespace)


# --- validation ---------------------------------------------------------------------------


def is_absolute_uri(uri: str) -> bool:
    """An absolute URI has a scheme and a host (``http://example.com/path``)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.hostname)


def check_kreference(ref: KReference, ctx: AdmissionContext, errs: FieldErrors) -> None:
    """A reference needs a name, a kind and an apiVersion (or a group, when allowed)."""
    if not ref.name:
        errs.required("name")
    group_allowed = ctx.config.feature(EVENTING_NS, "kreference-group") == "enabled"
    if ref.api_version and ref.group and group_allowed:
        errs.invalid(
            "group",
            ref.group,
            "both apiVersion and group are specified; only one of them must be specified",
        )
    elif not ref.api_version and not (group_allowed and ref.group):
        errs.required("apiVersion")
    if not ref.kind:
        errs.required("kind")


def check_destination(dest: Destination, ctx: AdmissionContext, errs: FieldErrors) -> None:
    """A destination is a ref, an absolute URI, or a ref plus a URI relative to it."""
    if dest.ref is None and not dest.uri:
        errs.add("expected at least one, got none: ref, uri", reason=REQUIRED)
        return
    if dest.ref is not None:
        if dest.uri and is_absolute_uri(dest.uri):
            errs.invalid(
                "uri",
                dest.uri,
                "Absolute URI is not allowed when Ref or [apiVersion, kind, name] is present",
            )
        check_kreference(dest.ref, ctx, errs.at("ref"))
    elif dest.uri and not is_absolute_uri(dest.uri):
        errs.invalid(
            "uri",
            dest.uri,
            "Relative URI is not allowed when Ref and [apiVersion, kind, name] is absent",
        )


def check_required_destination(
    dest: Destination | None, name: str, ctx: AdmissionContext, errs: FieldErrors
) -> None:
    """Check a destination that must be present (a trigger's subscriber, a source's sink)."""
    if dest is None:
        errs.at(name).add("expected at least one, got none: ref, uri", reason=REQUIRED)
    else:
        check_destination(dest, ctx, errs.at(name))


def _check_duration(value: str, name: str, errs: FieldErrors, *, positive: bool = False) -> None:
    seconds = parse_iso8601_duration(value)
    if seconds is None:
        errs.invalid(name, value, "must be an ISO-8601 duration such as PT0.2S or PT1M")
    elif seconds < 0:
        errs.invalid(name, value, "must not be negative")
    elif positive and seconds == 0:
        errs.invalid(name, value, "must be greater than zero")


def check_delivery(delivery: DeliverySpec, ctx: AdmissionContext, errs: FieldErrors) -> None:
    """Knative's DeliverySpec rules; ``errs`` points at the ``delivery`` field."""
    if delivery.dead_letter_sink is not None:
        check_destination(delivery.dead_letter_sink, ctx, errs.at("deadLetterSink"))
    if delivery.retry is not None and delivery.retry < 0:
        errs.invalid("retry", delivery.retry, "must be greater than or equal to 0")
    if delivery.timeout is not None:
        if ctx.config.feature(EVENTING_NS, "delivery-timeout") == "enabled":
            _check_duration(delivery.timeout, "timeout", errs, positive=True)
        else:
            errs.forbidden("timeout", "the delivery-timeout feature is disabled")
    if delivery.backoff_policy is not None and delivery.backoff_policy not in BACKOFF_POLICIES:
        errs.not_supported("backoffPolicy", delivery.backoff_policy, list(BACKOFF_POLICIES))
    if delivery.backoff_delay is not None:
        _check_duration(delivery.backoff_delay, "backoffDelay", errs)
    if delivery.retry_after_max is not None:
        if ctx.config.feature(EVENTING_NS, "delivery-retryafter") == "enabled":
            _check_duration(delivery.retry_after_max, "retryAfterMax", errs)
        else:
            errs.forbidden("retryAfterMax", "the delivery-retryafter feature is disabled")
    if delivery.format is not None and delivery.format not in DELIVERY_FORMATS:
        errs.not_supported("format", delivery.format, list(DELIVERY_FORMATS))


def check_optional_delivery(
    delivery: DeliverySpec | None, ctx: AdmissionContext, errs: FieldErrors
) -> None:
    if delivery is not None:
        check_delivery(delivery, ctx, errs.at("delivery"))
