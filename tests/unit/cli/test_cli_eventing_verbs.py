"""The eventing verbs with no server: flags to objects, filters, events, ``filter eval``."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shoal.cli.commands import broker, channel, event, subscription, trigger
from shoal.cli.commands.filter import evaluate, literal
from shoal.cli.errors import CliError
from shoal.cli.main import build_parser, main
from shoal.eventing import codec

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(list(argv)).parse_args(list(argv))


def test_every_verb_has_a_handler() -> None:
    for argv in (
        ["broker", "create", "b"],
        ["broker", "update", "b", "--retry", "1"],
        ["broker", "list"],
        ["broker", "describe", "b"],
        ["broker", "delete", "b"],
        ["trigger", "create", "t", "--sink", "ksvc:s"],
        ["trigger", "update", "t"],
        ["trigger", "list"],
        ["trigger", "describe", "t"],
        ["trigger", "delete", "t"],
        ["channel", "create", "c"],
        ["channel", "list"],
        ["channel", "describe", "c"],
        ["channel", "delete", "c"],
        ["subscription", "create", "s", "--channel", "c", "--sink", "x"],
        ["subscription", "update", "s", "--sink", "x"],
        ["subscription", "list"],
        ["subscription", "describe", "s"],
        ["subscription", "delete", "s"],
        ["eventtype", "list"],
        ["eventtype", "describe", "e"],
        ["event", "send", "--to", "broker:b", "--type", "t", "--source", "s"],
        ["filter", "eval", "--cesql", "true"],
    ):
        assert callable(parse(*argv).handler), argv


def test_a_group_without_a_verb_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["broker"]) == 2
    assert "required: COMMAND" in capsys.readouterr().err


# -- brokers ---------------------------------------------------------------------------------


def test_broker_create_builds_class_and_delivery() -> None:
    args = parse(
        "broker",
        "create",
        "orders",
        "--class",
        "InMemoryBroker",
        "--retry",
        "5",
        "--backoff-delay",
        "PT1S",
        "--dl-sink",
        "ksvc:dead",
        "-n",
        "shop",
    )
    assert broker.build_broker(args, "shop") == {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {
            "name": "orders",
            "namespace": "shop",
            "annotations": {"eventing.knative.dev/broker.class": "InMemoryBroker"},
        },
        "spec": {
            "delivery": {
                "retry": 5,
                "backoffDelay": "PT1S",
                "deadLetterSink": {
                    "ref": {
                        "apiVersion": "serving.knative.dev/v1",
                        "kind": "Service",
                        "name": "dead",
                        "namespace": "shop",
                    }
                },
            }
        },
    }
    plain = broker.build_broker(parse("broker", "create", "default"), "default")
    assert plain["metadata"] == {"name": "default", "namespace": "default"}
    assert plain["spec"] == {}


def test_broker_list_and_describe_text() -> None:
    obj = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {
            "name": "default",
            "namespace": "default",
            "creationTimestamp": "2024-05-01T11:55:00Z",
            "annotations": {"eventing.knative.dev/broker.class": "SQLiteBroker"},
        },
        "spec": {"delivery": {"retry": 10, "backoffPolicy": "exponential"}},
        "status": {
            "address": {"url": "http://127.0.0.1:8081/default/default"},
            "conditions": [
                {"type": "Addressable", "status": "True"},
                {"type": "Ready", "status": "True"},
            ],
        },
    }
    lines = broker.list_lines([obj], NOW, all_namespaces=True)
    assert lines[0].split() == ["NAMESPACE", "NAME", "URL", "AGE", "CONDITIONS", "READY", "REASON"]
    assert lines[1].split() == [
        "default",
        "default",
        "http://127.0.0.1:8081/default/default",
        "5m",
        "2",
        "OK",
        "/",
        "2",
        "True",
    ]
    text = broker.describe_text(obj, [], NOW)
    assert "Class:  SQLiteBroker" in text
    assert "  URL:  http://127.0.0.1:8081/default/default" in text
    assert "  Backoff Policy:  exponential" in text
    assert "Conditions:" in text and "Events:  <none>" in text


# -- triggers --------------------------------------------------------------------------------


def test_trigger_filter_only_uses_the_attribute_filter() -> None:
    args = parse(
        "trigger",
        "create",
        "t",
        "--broker",
        "b",
        "--filter",
        "type=dev.knative.foo",
        "--filter",
        "subject=",
        "--sink",
        "ksvc:fn",
    )
    spec = trigger.build_trigger(args, "default")["spec"]
    assert spec["broker"] == "b"
    assert spec["filter"] == {"attributes": {"type": "dev.knative.foo", "subject": ""}}
    assert "filters" not in spec
    assert spec["subscriber"]["ref"]["name"] == "fn"


def test_trigger_with_cesql_and_attributes_puts_both_in_filters() -> None:
    args = parse(
        "trigger",
        "create",
        "t",
        "--filter",
        "type=order.created",
        "--filter",
        "region=",
        "--cesql",
        "amount > 100",
        "--sink",
        "http://127.0.0.1:9/x",
    )
    spec = trigger.build_trigger(args, "default")["spec"]
    assert spec["broker"] == "default"
    assert spec["filter"] == {"attributes": {"type": "order.created", "region": ""}}
    assert spec["filters"] == [
        {"exact": {"type": "order.created"}},
        {"cesql": "EXISTS region"},
        {"cesql": "amount > 100"},
    ]
    assert spec["subscriber"] == {"uri": "http://127.0.0.1:9/x"}


def test_trigger_cesql_alone_and_bad_cesql() -> None:
    args = parse("trigger", "create", "t", "--cesql", "type LIKE 'a.%'", "--sink", "fn")
    spec = trigger.build_trigger(args, "default")["spec"]
    assert "filter" not in spec
    assert spec["filters"] == [{"cesql": "type LIKE 'a.%'"}]
    bad = parse("trigger", "create", "t", "--cesql", "type = ", "--sink", "fn")
    with pytest.raises(CliError, match=r"for --cesql: .* at column 8"):
        trigger.build_trigger(bad, "default")


@pytest.mark.parametrize("text", ["type", "Type=x", "1a=b", "ty-pe=x"])
def test_trigger_filter_values_are_checked(text: str) -> None:
    args = parse("trigger", "create", "t", "--filter", text, "--sink", "fn")
    with pytest.raises(CliError, match="for --filter"):
        trigger.build_trigger(args, "default")


def test_trigger_delivery_flags() -> None:
    args = parse("trigger", "create", "t", "--sink", "fn", "--retry", "2", "--timeout", "PT5S")
    assert trigger.build_trigger(args, "default")["spec"]["delivery"] == {
        "retry": 2,
        "timeout": "PT5S",
    }


def test_trigger_update_merges_filters_and_keeps_foreign_elements() -> None:
    spec = {
        "broker": "b",
        "filter": {"attributes": {"type": "a", "source": "s"}},
        "filters": [
            {"exact": {"type": "a"}},
            {"exact": {"source": "s"}},
            {"prefix": {"subject": "orders/"}},
            {"cesql": "x = 1"},
        ],
        "subscriber": {"uri": "http://old"},
        "delivery": {"retry": 1},
    }
    args = parse(
        "trigger",
        "update",
        "t",
        "--filter",
        "type=b",
        "--filter",
        "source-",
        "--cesql",
        "x = 2",
        "--sink",
        "ksvc:new",
        "--retry",
        "4",
    )
    new = trigger.updated_spec(spec, args, "default")
    assert new["filter"] == {"attributes": {"type": "b"}}
    assert new["filters"] == [
        {"exact": {"type": "b"}},
        {"prefix": {"subject": "orders/"}},
        {"cesql": "x = 2"},
    ]
    assert new["subscriber"]["ref"]["name"] == "new"
    assert new["delivery"] == {"retry": 4}
    assert spec["filter"] == {"attributes": {"type": "a", "source": "s"}}  # not mutated

    ops = trigger.spec_patch(spec, new)
    assert {op["path"] for op in ops} == {
        "/spec/filter",
        "/spec/filters",
        "/spec/subscriber",
        "/spec/delivery",
    }


def test_trigger_update_removing_cesql_drops_filters() -> None:
    spec = {
        "filter": {"attributes": {"type": "a"}},
        "filters": [{"exact": {"type": "a"}}, {"cesql": "x = 1"}],
    }
    new = trigger.updated_spec(spec, parse("trigger", "update", "t", "--cesql", ""), "default")
    assert new == {"filter": {"attributes": {"type": "a"}}}
    assert trigger.spec_patch(spec, new) == [{"op": "remove", "path": "/spec/filters"}]
    untouched = trigger.updated_spec(spec, parse("trigger", "update", "t"), "default")
    assert untouched == spec


def test_trigger_split_and_build_filters_round_trip() -> None:
    flt, filters = trigger.build_filters({"type": "a", "x": ""}, "y > 1", [{"not": {}}])
    attributes, cesql, others = trigger.split_filters({"filter": flt, "filters": filters})
    assert (attributes, cesql, others) == ({"type": "a", "x": ""}, "y > 1", [{"not": {}}])


# -- channels and subscriptions --------------------------------------------------------------


def test_channel_types() -> None:
    imc = {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"}
    assert channel.channel_template("imc") == imc
    assert channel.channel_template("inmemorychannel") == imc
    assert channel.channel_template("messaging.knative.dev:v1beta1:KafkaChannel") == {
        "apiVersion": "messaging.knative.dev/v1beta1",
        "kind": "KafkaChannel",
    }
    with pytest.raises(CliError, match="for --type"):
        channel.channel_template("broker")
    built = channel.build_channel(parse("channel", "create", "pipe", "--type", "imc"), "ns")
    assert built["spec"] == {"channelTemplate": imc}
    assert channel.build_channel(parse("channel", "create", "pipe"), "ns")["spec"] == {}


def test_subscription_channels_and_sinks() -> None:
    assert subscription.channel_ref("pipe") == {
        "apiVersion": "messaging.knative.dev/v1",
        "kind": "Channel",
        "name": "pipe",
    }
    assert subscription.channel_ref("imc:pipe")["kind"] == "InMemoryChannel"
    assert subscription.channel_ref("messaging.knative.dev:v1:KafkaChannel:k")["kind"] == (
        "KafkaChannel"
    )
    for bad in ("", "ksvc:x", "a:b:c"):
        with pytest.raises(CliError, match="for --channel"):
            subscription.channel_ref(bad)
    args = parse(
        "subscription",
        "create",
        "s",
        "--channel",
        "pipe",
        "--sink",
        "fn",
        "--sink-reply",
        "broker:b",
        "--sink-dead-letter",
        "http://127.0.0.1:1/dls",
    )
    spec = subscription.build_subscription(args, "default")["spec"]
    assert spec["subscriber"]["ref"]["kind"] == "Service"
    assert spec["reply"]["ref"]["kind"] == "Broker"
    assert spec["delivery"] == {"deadLetterSink": {"uri": "http://127.0.0.1:1/dls"}}
    lines = subscription.list_lines(
        [{"metadata": {"name": "s", "namespace": "default"}, "spec": spec}], NOW, False
    )
    assert lines[1].split() == [
        "s",
        "channel:pipe",
        "ksvc:fn",
        "broker:b",
        "http://127.0.0.1:1/dls",
        "<unknown>",
    ]


# -- events ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"a": 1}', "application/json"),
        ("42", "application/json"),
        ("hello world", "text/plain"),
    ],
)
def test_payload_content_types(data: str, content_type: str) -> None:
    assert event.payload(data, None, None) == (data.encode(), content_type)


def test_payload_from_a_file_and_overrides() -> None:
    assert event.payload(None, b"\xff\x00", None) == (b"\xff\x00", "application/octet-stream")
    assert event.payload(None, b"a,b\n", None) == (b"a,b\n", "text/plain")
    assert event.payload("x", None, "text/csv") == (b"x", "text/csv")
    assert event.payload(None, None, None) == (None, None)


def test_build_event_is_valid_binary_mode() -> None:
    sent = event.build_event(
        event_type="order.created",
        source="/shop",
        event_id="1",
        now=NOW,
        data=b'{"n": 1}',
        content_type="application/json",
        extensions=event.parse_extensions(["region=eu west", "subject=o/1"]),
    )
    headers, body = codec.to_binary(sent)
    assert headers["ce-time"] == "2024-05-01T12:00:00.000000Z"
    assert headers["ce-region"] == "eu%20west"
    assert headers["content-type"] == "application/json"
    (back,) = codec.parse_request(headers, body)
    assert back.attributes["region"] == "eu west"
    assert back.attributes["subject"] == "o/1"
    assert json.loads(back.data or b"") == {"n": 1}


def test_bad_events_are_refused_before_sending() -> None:
    for values, why in (
        (["Region=x"], "lower-case"),
        (["noequals"], "NAME=VALUE"),
        (["id=1"], "has its own flag"),
    ):
        with pytest.raises(CliError, match=why):
            event.parse_extensions(values)
    with pytest.raises(CliError, match=r"invalid event: .*'time'"):
        event.build_event(
            event_type="t", source="s", event_id="1", now=NOW, extensions={"time": "yesterday"}
        )


# -- filter eval -----------------------------------------------------------------------------


def test_literals() -> None:
    assert [literal(v) for v in (True, False, -3, "it's")] == ["true", "false", "-3", "'it\\'s'"]


def test_filter_eval_prints_value_type_and_errors() -> None:
    code, lines = evaluate("type LIKE 'com.%' AND sequence > 3", {"type": "com.x"})
    assert code == 0
    assert lines == [
        "value: false",
        "type: Boolean",
        "match: false",
        "error: missingAttribute: the event has no attribute 'sequence'",
    ]
    assert evaluate("sequence + 1", {"sequence": "41"}) == (
        0,
        ["value: 42", "type: Integer", "match: false"],
    )
    assert evaluate("UPPER(source)", {"source": "a"})[1][:2] == ["value: 'A'", "type: String"]


def test_filter_eval_parse_error_shows_the_position() -> None:
    code, lines = evaluate("type = ", {})
    assert code == 1
    assert lines == [
        "error: parse: expected an expression, found end of expression at column 8",
        "  type = ",
        "         ^",
    ]


def test_filter_eval_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "event.json"
    path.write_text(
        json.dumps(
            {
                "specversion": "1.0",
                "id": "1",
                "source": "/s",
                "type": "order.created",
                "amount": 150,
                "data": {"ignored": True},
            }
        )
    )
    assert (
        main(
            [
                "filter",
                "eval",
                "--cesql",
                "amount > 100 AND type = 'order.created'",
                "--event",
                str(path),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == [
        "value: true",
        "type: Boolean",
        "match: true",
    ]
    assert (
        main(
            [
                "filter",
                "eval",
                "--cesql",
                "amount > 100",
                "--event",
                str(path),
                "--attr",
                "amount=7",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines()[0] == "value: false"
    assert main(["filter", "eval", "--cesql", "(", "--attr", "a=b"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: parse: ")
    path.write_text("[1]")
    assert main(["filter", "eval", "--cesql", "true", "--event", str(path)]) == 1
    assert "JSON object" in capsys.readouterr().err
    assert main(["filter", "eval", "--cesql", "true", "--attr", "x"]) == 1
    assert "for --attr" in capsys.readouterr().err
