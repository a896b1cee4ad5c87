"""``shoal source kafka`` against a real API server (admission runs; no controllers do).

A test that needs a status writes it itself. Each command runs through ``main([...])`` in a
worker thread (it runs its own event loop).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shoal.api.catalog import default_catalog
from shoal.api.errors import Invalid
from shoal.cli.main import main
from shoal.client.rest import RestClient

KAFKA_SOURCES = default_catalog().require("kafkasources")
Run = Any


@pytest.fixture
def shoal(api_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> Run:
    for name in ("SHOAL_SERVER", "SHOAL_TOKEN", "SHOAL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)

    async def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(
            main, [*argv, "--server", api_server.url, "--data-dir", str(tmp_path / "data")])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
async def client(api_server: Any) -> AsyncIterator[RestClient]:
    async with RestClient(api_server.url) as rest:
        yield rest


async def test_create_list_describe_update_delete(shoal: Run, client: RestClient) -> None:
    code, out, _ = await shoal("source", "kafka", "list")
    assert (code, out) == (0, "No Kafka sources found.\n")

    code, out, err = await shoal(
        "source", "kafka", "create", "orders", "--servers", "127.0.0.1:9092",
        "--topics", "orders,returns", "--topics", "refunds", "--consumergroup", "shop",
        "--initial-offset", "earliest", "--sink", "ksvc:display", "--ce-override", "team=blue",
        "-a", "kafkasources.sources.knative.dev/key-type=int")
    assert (code, out, err) == (0, "Kafka source 'orders' created in namespace 'default'.\n", "")
    stored = await client.get(KAFKA_SOURCES, "orders", "default")
    assert stored["apiVersion"] == "sources.knative.dev/v1beta1"
    assert stored["spec"]["topics"] == ["orders", "returns", "refunds"]
    assert stored["spec"]["bootstrapServers"] == ["127.0.0.1:9092"]
    assert stored["spec"]["consumerGroup"] == "shop"
    assert stored["spec"]["initialOffset"] == "earliest"
    assert stored["spec"]["consumers"] == 1
    assert stored["spec"]["sink"]["ref"] == {"apiVersion": "serving.knative.dev/v1",
                                             "kind": "Service", "name": "display",
                                             "namespace": "default"}
    assert stored["spec"]["ceOverrides"] == {"extensions": {"team": "blue"}}
    assert stored["metadata"]["annotations"] == {
        "kafkasources.sources.knative.dev/key-type": "int"}

    code, out, _ = await shoal("source", "kafka", "list")
    head, row = out.splitlines()
    assert head.split() == ["NAME", "TOPICS", "BOOTSTRAPSERVERS", "SINK", "AGE", "CONDITIONS",
                            "READY", "REASON"]
    assert row.split()[:4] == ["orders", "orders,returns,refunds", "127.0.0.1:9092",
                               "ksvc:display"]

    code, out, _ = await shoal("source", "kafka", "list", "-o", "json")
    assert [i["metadata"]["name"] for i in json.loads(out)["items"]] == ["orders"]

    code, out, _ = await shoal("source", "kafka", "describe", "orders")
    assert code == 0
    assert "Consumer Group:" in out and "shop" in out
    assert "Topics:" in out and "orders, returns, refunds" in out
    assert "ksvc:display" in out and "team:" in out

    code, out, _ = await shoal("source", "kafka", "describe", "orders", "-o", "yaml")
    assert yaml.safe_load(out)["kind"] == "KafkaSource"

    code, out, err = await shoal("source", "kafka", "update", "orders", "--topics", "orders",
                                 "--sink", "http://127.0.0.1:9/", "--ce-override", "team-",
                                 "--ce-override", "tier=gold")
    assert (code, out) == (0, "Kafka source 'orders' updated in namespace 'default'.\n"), err
    stored = await client.get(KAFKA_SOURCES, "orders", "default")
    assert stored["spec"]["topics"] == ["orders"]
    assert stored["spec"]["sink"] == {"uri": "http://127.0.0.1:9/"}
    assert stored["spec"]["ceOverrides"] == {"extensions": {"tier": "gold"}}
    assert stored["spec"]["consumerGroup"] == "shop"

    code, out, _ = await shoal("source", "kafka", "delete", "orders")
    assert (code, out) == (0, "Kafka source 'orders' deleted in namespace 'default'.\n")
    code, out, _ = await shoal("source", "kafka", "list")
    assert out == "No Kafka sources found.\n"


async def test_a_bad_spec_is_refused_naming_the_field(shoal: Run) -> None:
    code, _, err = await shoal("source", "kafka", "create", "bad", "--servers", "nohost",
                               "--topics", "t", "--sink", "http://127.0.0.1:9/")
    assert code == 1
    assert "spec.bootstrapServers[0]" in err


async def test_required_flags_are_named(shoal: Run) -> None:
    code, _, err = await shoal("source", "kafka", "create", "bad", "--sink", "ksvc:x")
    assert code == 1
    assert "--servers" in err and "--topics" in err


async def test_the_server_names_every_bad_field(client: RestClient) -> None:
    body = {"apiVersion": KAFKA_SOURCES.api_version, "kind": "KafkaSource",
            "metadata": {"name": "tls", "namespace": "default"},
            "spec": {"bootstrapServers": ["127.0.0.1:9093"], "initialOffset": "newest",
                     "sink": {"uri": "http://127.0.0.1:9/"},
                     "net": {"tls": {"enable": True}}}}
    with pytest.raises(Invalid) as caught:
        await client.create(KAFKA_SOURCES, body)
    message = str(caught.value)
    for field in ("spec.topics", "spec.initialOffset", "spec.net.tls.enable"):
        assert field in message


async def test_an_update_without_changes_is_an_error(shoal: Run) -> None:
    await shoal("source", "kafka", "create", "g", "--servers", "127.0.0.1:9092", "--topics",
                "t", "--sink", "http://127.0.0.1:9/")
    code, _, err = await shoal("source", "kafka", "update", "g")
    assert code == 1
    assert "nothing to update" in err


async def test_get_shows_knatives_columns(shoal: Run) -> None:
    await shoal("source", "kafka", "create", "cols", "--servers", "127.0.0.1:9092",
                "--topics", "a,b", "--sink", "http://127.0.0.1:9/")
    code, out, _ = await shoal("get", "kafkasources")
    assert code == 0
    head, row = out.splitlines()
    assert head.split() == ["NAME", "TOPICS", "BOOTSTRAPSERVERS", "READY", "REASON", "AGE"]
    assert row.split()[:3] == ["cols", '["a","b"]', '["127.0.0.1:9092"]']
