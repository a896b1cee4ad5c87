"""kn's sink syntax and delivery flags, read into Destinations and DeliverySpecs, and back."""

from __future__ import annotations

import argparse

import pytest

from shoal.cli.errors import CliError
from shoal.cli.sinks import (
    add_delivery_options,
    delivery_changes,
    delivery_view,
    iso_duration,
    merged_delivery,
    parse_sink,
    sink_text,
)


def ref(api_version: str, kind: str, name: str, namespace: str = "default") -> dict[str, object]:
    return {"ref": {"apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ksvc:hello", ref("serving.knative.dev/v1", "Service", "hello")),
        ("hello", ref("serving.knative.dev/v1", "Service", "hello")),
        ("ksvc:hello:team", ref("serving.knative.dev/v1", "Service", "hello", "team")),
        ("broker:default", ref("eventing.knative.dev/v1", "Broker", "default")),
        ("channel:pipe", ref("messaging.knative.dev/v1", "Channel", "pipe")),
        ("imc:pipe", ref("messaging.knative.dev/v1", "InMemoryChannel", "pipe")),
        ("sequence:steps", ref("flows.knative.dev/v1", "Sequence", "steps")),
        (
            "messaging.knative.dev/v1/channels:pipe",
            ref("messaging.knative.dev/v1", "Channel", "pipe"),
        ),
        (
            "eventing.knative.dev/v1/broker:b:other",
            ref("eventing.knative.dev/v1", "Broker", "b", "other"),
        ),
        (
            "Service:serving.knative.dev/v1:hello",
            ref("serving.knative.dev/v1", "Service", "hello"),
        ),
        ("service:serving.knative.dev/v1:hello", ref("serving.knative.dev/v1", "Service", "hello")),
        (
            "KafkaSink:eventing.knative.dev/v1alpha1:ks",
            ref("eventing.knative.dev/v1alpha1", "KafkaSink", "ks"),
        ),
        ("http://127.0.0.1:9000/events", {"uri": "http://127.0.0.1:9000/events"}),
        ("https://example.com", {"uri": "https://example.com"}),
    ],
)
def test_sinks_in_kn_syntax(text: str, expected: dict[str, object]) -> None:
    assert parse_sink(text, "default") == expected


@pytest.mark.parametrize(
    ("text", "flag", "why"),
    [
        ("", "--sink", "must not be empty"),
        ("svc:hello", "--sink", "use 'ksvc' for a Knative Service"),
        ("service:hello", "--dl-sink", "use 'ksvc' for a Knative Service"),
        ("cm:settings", "--sink", "unknown sink prefix 'cm'"),
        ("nosuch:thing", "--sink-reply", "unknown sink prefix 'nosuch'"),
        ("broker:", "--sink", "the name after ':' is empty"),
        (":hello", "--sink", "the prefix before ':' is empty"),
        ("example.dev/v1/widgets:w", "--sink", "no resource 'widgets'"),
        ("http://", "--sink", "needs a host"),
    ],
)
def test_bad_sinks_name_the_flag_and_the_value(text: str, flag: str, why: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_sink(text, "default", flag)
    message = str(caught.value)
    assert message.startswith(f"invalid value {text!r} for {flag}: ")
    assert why in message


def test_sink_text_is_what_kn_lists() -> None:
    assert sink_text(parse_sink("ksvc:hello", "default"), "default") == "ksvc:hello"
    assert sink_text(parse_sink("broker:b:other", "default"), "default") == "broker:b:other"
    assert sink_text(parse_sink("imc:pipe", "default")) == "inmemorychannel:pipe"
    assert sink_text({"uri": "http://x/y"}) == "http://x/y"
    relative = {
        "ref": {"kind": "Service", "apiVersion": "serving.knative.dev/v1", "name": "fn"},
        "uri": "/path",
    }
    assert sink_text(relative) == "ksvc:fn/path"
    assert sink_text(None) == ""


def delivery_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_delivery_options(parser)
    return parser.parse_args(list(argv))


def test_delivery_flags_become_the_delivery_spec() -> None:
    args = delivery_args(
        "--dl-sink",
        "ksvc:dead",
        "--retry",
        "3",
        "--backoff-policy",
        "linear",
        "--backoff-delay",
        "PT0.5S",
        "--timeout",
        "PT10S",
        "--retry-after-max",
        "PT0S",
    )
    assert delivery_changes(args, "team") == {
        "deadLetterSink": ref("serving.knative.dev/v1", "Service", "dead", "team"),
        "retry": 3,
        "backoffPolicy": "linear",
        "backoffDelay": "PT0.5S",
        "timeout": "PT10S",
        "retryAfterMax": "PT0S",
    }
    assert delivery_changes(delivery_args(), "team") == {}


def test_delivery_flags_are_checked_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--retry", "-1"], ["--backoff-delay", "1s"], ["--backoff-policy", "random"]):
        with pytest.raises(SystemExit):
            delivery_args(*argv)
    err = capsys.readouterr().err
    assert "argument --retry: -1 must be 0 or more" in err
    assert "argument --backoff-delay: invalid ISO-8601 duration '1s'" in err
    assert iso_duration("P1DT2H") == "P1DT2H"
    with pytest.raises(argparse.ArgumentTypeError):
        iso_duration("-PT1S")


def test_a_bad_dead_letter_sink_names_its_flag() -> None:
    with pytest.raises(CliError, match="for --dl-sink"):
        delivery_changes(delivery_args("--dl-sink", "svc:x"), "default")


def test_delivery_merges_and_reads_back() -> None:
    existing = {"retry": 10, "backoffPolicy": "exponential"}
    assert merged_delivery(existing, {"retry": 2}) == {"retry": 2, "backoffPolicy": "exponential"}
    assert existing["retry"] == 10
    assert merged_delivery(None, {}) is None
    view = delivery_view({"retry": 1, "deadLetterSink": {"uri": "http://d"}})
    assert view == {"retry": 1, "deadLetterSink": "http://d"}
