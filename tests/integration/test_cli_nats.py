"""``shoal source nats ...`` and ``shoal broker create --class NatsJetStreamBroker`` against a
real API server (no controllers: objects are admitted and stored)."""

from __future__ import annotations

import tests.integration.test_cli_eventing as cli_eventing
import yaml
from tests.integration.test_cli_eventing import Shoal

from shoal.api.catalog import default_catalog
from shoal.client.rest import RestClient

NATSSOURCES = default_catalog().require("natssources")
BROKERS = default_catalog().require("brokers")


shoal = cli_eventing.shoal  # the fixtures of the eventing verbs' tests
client = cli_eventing.client


async def test_broker_create_with_the_nats_class(shoal: Shoal, client: RestClient) -> None:
    code, out, _ = await shoal("broker", "create", "js", "--class", "NatsJetStreamBroker")
    assert code == 0, out
    broker = await client.get(BROKERS, "js", "default")
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == (
        "NatsJetStreamBroker")


async def test_create_describe_update_list_delete(shoal: Shoal, client: RestClient) -> None:
    code, out, err = await shoal(
        "source", "nats", "create", "orders", "--servers", "nats://127.0.0.1:4222",
        "--servers", "nats://127.0.0.1:4223", "--subject", "orders.>", "--stream", "ORDERS",
        "--sink", "broker:default", "--ce-override", "team=red", "--ce-override", "env=dev")
    assert (code, out) == (0, "NATS source 'orders' created in namespace 'default'.\n"), err
    stored = await client.get(NATSSOURCES, "orders", "default")
    assert stored["spec"]["servers"] == ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
    assert stored["spec"]["jetstream"] == {"stream": "ORDERS", "consumer":
                                           "knative-default-orders", "deliverPolicy": "all"}
    assert stored["spec"]["sink"]["ref"]["kind"] == "Broker"
    assert stored["spec"]["ceOverrides"] == {"extensions": {"team": "red", "env": "dev"}}

    code, out, _ = await shoal("source", "nats", "describe", "orders")
    assert code == 0
    assert "orders.>" in out and "broker:default" in out and "ORDERS" in out

    code, out, _ = await shoal("source", "nats", "update", "orders", "--subject", "orders.eu.>",
                               "--ce-override", "env-", "--sink", "http://127.0.0.1:9000/")
    assert (code, out) == (0, "NATS source 'orders' updated in namespace 'default'.\n")
    stored = await client.get(NATSSOURCES, "orders", "default")
    assert stored["spec"]["subject"] == "orders.eu.>"
    assert stored["spec"]["ceOverrides"] == {"extensions": {"team": "red"}}
    assert stored["spec"]["sink"] == {"uri": "http://127.0.0.1:9000/"}

    code, out, _ = await shoal("source", "nats", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SUBJECT", "SINK", "AGE", "CONDITIONS", "READY",
                                "REASON"]
    assert lines[1].split()[:3] == ["orders", "orders.eu.>", "http://127.0.0.1:9000/"]
    code, out, _ = await shoal("source", "nats", "list", "-o", "yaml")
    assert yaml.safe_load(out)["items"][0]["kind"] == "NatsSource"

    code, out, _ = await shoal("source", "nats", "delete", "orders")
    assert (code, out) == (0, "NATS source 'orders' deleted in namespace 'default'.\n")
    code, out, _ = await shoal("source", "nats", "list")
    assert out == "No NATS sources found.\n"


async def test_bad_input_names_the_field_or_flag(shoal: Shoal) -> None:
    code, _, err = await shoal("source", "nats", "create", "bad", "--subject", "a..b",
                               "--sink", "http://127.0.0.1:9/")
    assert code == 1 and "spec.subject" in err
    code, _, err = await shoal("source", "nats", "create", "bad", "--subject", "a",
                               "--sink", "http://127.0.0.1:9/", "--consumer", "c")
    assert code == 1 and "--consumer and --deliver-policy need --stream" in err
    code, _, err = await shoal("source", "nats", "create", "bad", "--subject", "a",
                               "--sink", "http://127.0.0.1:9/", "--ce-override", "oops")
    assert code == 1 and "--ce-override" in err
    code, _, err = await shoal("source", "nats", "update", "missing", "--subject", "a")
    assert code == 1 and "not found" in err
