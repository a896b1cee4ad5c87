"""The eventing verbs of ``shoal`` against a real API server, and ``event send`` over HTTP.

No controllers run here: objects are admitted (defaulted, validated) and stored, and a test
that needs a status (a broker's address, a Ready condition) writes it itself. ``event send``
goes to a small aiohttp server the test runs on loopback. Each command runs through
``main([...])`` in a worker thread (it runs its own event loop).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from shoal.api.catalog import default_catalog
from shoal.cli.main import main
from shoal.client.rest import RestClient
from shoal.eventing import codec
from shoal.eventing.event import CloudEvent

BROKERS = default_catalog().require("brokers")
TRIGGERS = default_catalog().require("triggers")
CHANNELS = default_catalog().require("channels")
SUBSCRIPTIONS = default_catalog().require("subscriptions")
EVENTTYPES = default_catalog().require("eventtypes")
CLASS = "eventing.knative.dev/broker.class"


class Shoal:
    """Runs ``shoal`` against one server, and returns exit status, stdout and stderr."""

    def __init__(self, url: str, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.data_dir = data_dir
        self.capsys = capsys

    async def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(
            main, [*argv, "--server", self.url, "--data-dir", str(self.data_dir)]
        )
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def shoal(
    api_server: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Shoal:
    for name in ("SHOAL_SERVER", "SHOAL_TOKEN", "SHOAL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return Shoal(api_server.url, tmp_path / "data", capsys)


@pytest.fixture
async def client(api_server: Any) -> AsyncIterator[RestClient]:
    async with RestClient(api_server.url) as rest:
        yield rest


@dataclass
class Receiver:
    """An HTTP server that records what it is sent and answers as told."""

    url: str = ""
    status: int = 202
    reply: CloudEvent | None = None
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((request.path, dict(request.headers), body))
        if self.reply is not None:
            headers, data = codec.to_binary(self.reply)
            return web.Response(status=self.status, headers=headers, body=data)
        return web.Response(status=self.status, text="nope" if self.status >= 300 else "")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


async def set_status(client: RestClient, rt: Any, name: str, status: dict[str, Any]) -> None:
    obj = await client.get(rt, name, "default")
    obj["status"] = status
    await client.update_status(rt, obj)


READY = {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}


# -- brokers ---------------------------------------------------------------------------------


async def test_broker_lifecycle(shoal: Shoal, client: RestClient) -> None:
    code, out, _ = await shoal("broker", "list")
    assert (code, out) == (0, "No brokers found.\n")

    code, out, err = await shoal(
        "broker",
        "create",
        "orders",
        "--class",
        "InMemoryBroker",
        "--retry",
        "3",
        "--dl-sink",
        "ksvc:dead",
    )
    assert code == 0, err
    assert out == "Broker 'orders' successfully created in namespace 'default'.\n"
    stored = await client.get(BROKERS, "orders", "default")
    assert stored["metadata"]["annotations"][CLASS] == "InMemoryBroker"
    assert stored["spec"]["delivery"]["retry"] == 3
    assert stored["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] == "dead"

    code, _, _ = await shoal("broker", "create", "default")
    assert code == 0
    default = await client.get(BROKERS, "default", "default")
    assert default["metadata"]["annotations"][CLASS] == "SQLiteBroker"  # from config-br-defaults
    assert default["spec"]["delivery"]["backoffPolicy"] == "exponential"

    url = "http://127.0.0.1:8081/default/orders"
    await set_status(client, BROKERS, "orders", {"address": {"url": url}, "conditions": [READY]})
    code, out, _ = await shoal("broker", "list")
    head, *rows = out.splitlines()
    assert head.split() == ["NAME", "URL", "AGE", "CONDITIONS", "READY", "REASON"]
    assert [r.split()[0] for r in rows] == ["default", "orders"]
    assert rows[1].split()[1] == url and rows[1].split()[-1] == "True"

    code, out, _ = await shoal("broker", "list", "-A")
    assert out.splitlines()[0].split()[0] == "NAMESPACE"

    code, out, _ = await shoal("broker", "describe", "orders")
    assert code == 0
    assert "Name:         orders" in out
    assert f"  URL:  {url}" in out
    assert "Class:  InMemoryBroker" in out
    assert "  Dead Letter Sink:  ksvc:dead" in out
    assert "  Ready  True" in out

    code, out, _ = await shoal("broker", "update", "orders", "--backoff-delay", "PT2S")
    assert out == "Broker 'orders' updated in namespace 'default'.\n"
    delivery = (await client.get(BROKERS, "orders", "default"))["spec"]["delivery"]
    assert (delivery["retry"], delivery["backoffDelay"]) == (3, "PT2S")

    code, out, _ = await shoal("broker", "describe", "orders", "-o", "yaml")
    assert yaml.safe_load(out)["kind"] == "Broker"

    code, out, _ = await shoal("broker", "delete", "orders")
    assert out == "Broker 'orders' successfully deleted in namespace 'default'.\n"
    code, _, err = await shoal("broker", "describe", "orders")
    assert code == 1 and "NotFound" in err


async def test_broker_errors(shoal: Shoal) -> None:
    code, _, err = await shoal("broker", "create", "b", "--retry-after-max", "PT1S")
    assert code == 1
    assert err.startswith("Error from server (Invalid): ")
    assert "spec.delivery.retryAfterMax" in err and "delivery-retryafter" in err
    code, _, err = await shoal("broker", "create", "b", "--dl-sink", "svc:x")
    assert code == 1
    assert err == (
        "error: invalid value 'svc:x' for --dl-sink: unsupported sink prefix 'svc', use "
        "'ksvc' for a Knative Service\n"
    )
    code, _, err = await shoal("broker", "create", "b", "--timeout", "10s")
    assert code == 2 and "argument --timeout: invalid ISO-8601 duration '10s'" in err
    code, _, err = await shoal("broker", "update", "b")
    assert code == 1 and "nothing to update" in err


# -- triggers --------------------------------------------------------------------------------


async def test_trigger_lifecycle(shoal: Shoal, client: RestClient) -> None:
    code, out, err = await shoal(
        "trigger",
        "create",
        "big-orders",
        "--broker",
        "shop",
        "--filter",
        "type=order.created",
        "--cesql",
        "amount > 100",
        "--sink",
        "ksvc:billing",
        "--retry",
        "2",
    )
    assert code == 0, err
    assert out == "Trigger 'big-orders' successfully created in namespace 'default'.\n"
    stored = await client.get(TRIGGERS, "big-orders", "default")
    spec = stored["spec"]
    assert spec["filter"] == {"attributes": {"type": "order.created"}}
    assert spec["filters"] == [{"exact": {"type": "order.created"}}, {"cesql": "amount > 100"}]
    assert spec["subscriber"]["ref"] == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "billing",
        "namespace": "default",
    }
    assert spec["delivery"] == {"retry": 2}
    assert stored["metadata"]["labels"]["eventing.knative.dev/broker"] == "shop"

    await shoal("trigger", "create", "all", "--sink", "http://127.0.0.1:9/all")
    code, out, _ = await shoal("trigger", "list")
    head, *rows = out.splitlines()
    assert head.split() == ["NAME", "BROKER", "SINK", "AGE", "CONDITIONS", "READY", "REASON"]
    assert [r.split()[:3] for r in rows] == [
        ["all", "default", "http://127.0.0.1:9/all"],
        ["big-orders", "shop", "ksvc:billing"],
    ]
    code, out, _ = await shoal("trigger", "list", "--broker", "shop")
    assert [r.split()[0] for r in out.splitlines()[1:]] == ["big-orders"]
    code, out, _ = await shoal("trigger", "list", "--broker", "nope")
    assert out == "No triggers found.\n"

    code, out, err = await shoal(
        "trigger",
        "update",
        "big-orders",
        "--filter",
        "source=/shop",
        "--cesql",
        "",
        "--sink",
        "broker:audit",
    )
    assert code == 0, err
    assert out == "Trigger 'big-orders' updated in namespace 'default'.\n"
    spec = (await client.get(TRIGGERS, "big-orders", "default"))["spec"]
    assert spec["filter"] == {"attributes": {"type": "order.created", "source": "/shop"}}
    assert "filters" not in spec
    assert spec["subscriber"]["ref"]["kind"] == "Broker"

    await set_status(
        client,
        TRIGGERS,
        "big-orders",
        {"subscriberUri": "http://127.0.0.1:8081/default/audit", "conditions": [READY]},
    )
    code, out, _ = await shoal("trigger", "describe", "big-orders")
    assert "Broker:          shop" in out
    assert "Sink:            broker:audit" in out
    assert "  type:    order.created" in out
    assert "Subscriber URI:  http://127.0.0.1:8081/default/audit" in out

    code, out, _ = await shoal("trigger", "delete", "big-orders")
    assert out == "Trigger 'big-orders' deleted in namespace 'default'.\n"


async def test_trigger_refused_by_the_server(shoal: Shoal) -> None:
    code, _, err = await shoal("trigger", "create", "t", "--sink", "fn", "--timeout", "PT0S")
    assert code == 1
    assert "spec.delivery.timeout" in err and "must be greater than zero" in err
    code, _, err = await shoal("trigger", "create", "t", "--sink", "fn", "--cesql", "a =")
    assert code == 1 and "for --cesql" in err
    code, _, err = await shoal("trigger", "create", "t")
    assert code == 2 and "--sink" in err


# -- channels, subscriptions, event types ----------------------------------------------------


async def test_channels_and_subscriptions(shoal: Shoal, client: RestClient) -> None:
    code, out, err = await shoal("channel", "create", "pipe", "--type", "imc")
    assert code == 0, err
    assert out == "Channel 'pipe' created in namespace 'default'.\n"
    stored = await client.get(CHANNELS, "pipe", "default")
    assert stored["spec"]["channelTemplate"] == {
        "apiVersion": "messaging.knative.dev/v1",
        "kind": "InMemoryChannel",
    }
    await shoal("channel", "create", "plain")
    plain = await client.get(CHANNELS, "plain", "default")
    assert plain["spec"]["channelTemplate"]["kind"] == "InMemoryChannel"  # the default

    url = "http://127.0.0.1:8081/channels/default/pipe"
    await set_status(client, CHANNELS, "pipe", {"address": {"url": url}, "conditions": [READY]})
    code, out, _ = await shoal("channel", "list")
    head, *rows = out.splitlines()
    assert head.split() == ["NAME", "TYPE", "URL", "AGE", "READY", "REASON"]
    assert rows[0].split()[:3] == ["pipe", "InMemoryChannel", url]
    assert rows[1].split()[:2] == ["plain", "InMemoryChannel"]
    code, out, _ = await shoal("channel", "describe", "pipe")
    type_line = next(line for line in out.splitlines() if line.startswith("Type:"))
    assert type_line.split(maxsplit=1)[1] == "InMemoryChannel (messaging.knative.dev/v1)"
    assert f"  URL:  {url}" in out

    code, out, err = await shoal(
        "subscription",
        "create",
        "sub",
        "--channel",
        "pipe",
        "--sink",
        "ksvc:fn",
        "--sink-reply",
        "broker:default",
        "--sink-dead-letter",
        "http://127.0.0.1:9/dls",
    )
    assert code == 0, err
    assert out == "Subscription 'sub' created in namespace 'default'.\n"
    spec = (await client.get(SUBSCRIPTIONS, "sub", "default"))["spec"]
    assert spec["channel"] == {
        "apiVersion": "messaging.knative.dev/v1",
        "kind": "Channel",
        "name": "pipe",
    }
    assert spec["reply"]["ref"]["kind"] == "Broker"
    assert spec["delivery"]["deadLetterSink"] == {"uri": "http://127.0.0.1:9/dls"}

    code, out, _ = await shoal("subscription", "list")
    head, row = out.splitlines()
    assert head.split()[:4] == ["NAME", "CHANNEL", "SUBSCRIBER", "REPLY"]
    assert row.split()[:5] == [
        "sub",
        "channel:pipe",
        "ksvc:fn",
        "broker:default",
        "http://127.0.0.1:9/dls",
    ]
    code, out, _ = await shoal("subscription", "update", "sub", "--sink", "ksvc:fn2")
    assert out == "Subscription 'sub' updated in namespace 'default'.\n"
    code, out, _ = await shoal("subscription", "describe", "sub")
    assert "Subscriber:  ksvc:fn2" in out and "Channel:     channel:pipe" in out

    code, out, _ = await shoal("subscription", "create", "lonely", "--channel", "pipe")
    assert code == 1  # neither a subscriber nor a reply
    code, out, _ = await shoal("subscription", "delete", "sub")
    assert out == "Subscription 'sub' deleted in namespace 'default'.\n"
    code, out, _ = await shoal("channel", "delete", "pipe")
    assert out == "Channel 'pipe' deleted in namespace 'default'.\n"


async def test_eventtypes(shoal: Shoal, client: RestClient) -> None:
    code, out, _ = await shoal("eventtype", "list")
    assert out == "No eventtypes found.\n"
    for name, broker, type_ in (("et-a", "shop", "order.created"), ("et-b", "other", "x.y")):
        await client.create(
            EVENTTYPES,
            {
                "metadata": {"name": name, "namespace": "default"},
                "spec": {
                    "type": type_,
                    "source": "/src",
                    "reference": {
                        "apiVersion": "eventing.knative.dev/v1",
                        "kind": "Broker",
                        "name": broker,
                    },
                    "description": "seen on " + broker,
                },
            },
        )
    code, out, _ = await shoal("eventtype", "list")
    head, *rows = out.splitlines()
    assert head.split()[:5] == ["NAME", "TYPE", "SOURCE", "SCHEMA", "REFERENCE"]
    assert [r.split()[:4] for r in rows] == [
        ["et-a", "order.created", "/src", "broker:shop"],
        ["et-b", "x.y", "/src", "broker:other"],
    ]
    code, out, _ = await shoal("eventtype", "list", "--broker", "shop", "-o", "json")
    assert [i["metadata"]["name"] for i in json.loads(out)["items"]] == ["et-a"]
    code, out, _ = await shoal("eventtype", "describe", "et-a")
    assert code == 0
    assert "Type:         order.created" in out and "Description:  seen on shop" in out


# -- event send ------------------------------------------------------------------------------


async def test_event_send_to_a_url(shoal: Shoal, receiver: Receiver) -> None:
    code, out, err = await shoal(
        "event",
        "send",
        "--to",
        receiver.url + "/hook",
        "--type",
        "order.created",
        "--source",
        "/shop",
        "--id",
        "e-1",
        "--data",
        '{"amount": 150}',
        "--extension",
        "region=eu",
    )
    assert code == 0, err
    assert out == f"Event 'e-1' sent to {receiver.url}/hook: 202 Accepted\n"
    ((path, headers, body),) = receiver.received
    assert path == "/hook"
    (sent,) = codec.parse_request(headers, body)
    assert sent.attributes["id"] == "e-1"
    assert sent.attributes["type"] == "order.created"
    assert sent.attributes["region"] == "eu"
    assert sent.content_type == "application/json"
    assert json.loads(sent.data or b"") == {"amount": 150}
    assert sent.attributes["time"].endswith("Z")


async def test_event_send_generates_an_id_and_prints_a_reply(
    shoal: Shoal, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.status = 200
    receiver.reply = CloudEvent(
        {"specversion": "1.0", "id": "r-1", "source": "/fn", "type": "order.priced"}, None
    )
    payload = tmp_path / "data.txt"
    payload.write_text("plain words")
    code, out, err = await shoal(
        "event",
        "send",
        "--to",
        receiver.url,
        "--type",
        "t",
        "--source",
        "s",
        "--data-file",
        str(payload),
    )
    assert code == 0, err
    first, reply_head, *reply = out.splitlines()
    assert first.endswith(": 200 OK")
    assert reply_head == "Reply:"
    assert json.loads("\n".join(reply))["type"] == "order.priced"
    ((_, headers, body),) = receiver.received
    (sent,) = codec.parse_request(headers, body)
    assert len(sent.id) == 36 and sent.content_type == "text/plain" and body == b"plain words"


async def test_event_send_fails_on_an_error_status(shoal: Shoal, receiver: Receiver) -> None:
    receiver.status = 404
    code, out, err = await shoal(
        "event", "send", "--to", receiver.url, "--type", "t", "--source", "s", "--id", "x"
    )
    assert code == 1
    assert out == f"Event 'x' sent to {receiver.url}: 404 Not Found\n"
    assert err == f"error: {receiver.url} answered 404 Not Found: nope\n"


async def test_event_send_to_a_broker_by_name(
    shoal: Shoal, client: RestClient, receiver: Receiver
) -> None:
    await shoal("broker", "create", "default")
    code, _, err = await shoal(
        "event", "send", "--to", "broker:default", "--type", "t", "--source", "s"
    )
    assert code == 1
    assert err == (
        "error: Broker 'default' in namespace 'default' has no address yet (is it ready?)\n"
    )
    await set_status(
        client, BROKERS, "default", {"address": {"url": receiver.url + "/default/default"}}
    )
    code, out, err = await shoal(
        "event", "send", "--to", "broker:default", "--type", "t", "--source", "s", "--id", "b-1"
    )
    assert code == 0, err
    assert out == f"Event 'b-1' sent to {receiver.url}/default/default: 202 Accepted\n"
    assert [path for path, _, _ in receiver.received] == ["/default/default"]

    code, _, err = await shoal(
        "event", "send", "--to", "broker:missing", "--type", "t", "--source", "s"
    )
    assert code == 1 and "NotFound" in err


async def test_event_send_to_nothing(shoal: Shoal) -> None:
    code, _, err = await shoal(
        "event", "send", "--to", "http://127.0.0.1:1/", "--type", "t", "--source", "s"
    )
    assert code == 1 and err.startswith("error: cannot send the event to http://127.0.0.1:1/")
