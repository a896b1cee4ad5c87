"""``shoal source …`` against a real API server: the verbs, the specs they write, errors.

No controllers run: sources are admitted and stored, and a test that needs a status writes
it. Commands run through ``main([...])`` in a worker thread, as in the other CLI tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_cli_eventing import Shoal

from shoal.api.catalog import default_catalog
from shoal.client.rest import RestClient

PINGS = default_catalog().require("pingsources")
APISERVERS = default_catalog().require("apiserversources")


@pytest.fixture
def cli(api_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Shoal:
    for name in ("SHOAL_SERVER", "SHOAL_TOKEN", "SHOAL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return Shoal(api_server.url, tmp_path / "data", capsys)


async def spec_of(api_server: Any, rt: Any, name: str) -> dict[str, Any]:
    async with RestClient(api_server.url) as client:
        obj = await client.get(rt, name, "default")
    spec: dict[str, Any] = obj["spec"]
    return spec


async def test_ping_create_update_list_describe_delete(cli: Shoal, api_server: Any) -> None:
    code, out, err = await cli("source", "ping", "create", "beat", "--schedule",
                               "*/5 * * * * *", "--timezone", "Europe/Berlin", "--data",
                               "hello", "--sink", "broker:default", "--ce-override", "team=blue")
    assert (code, out, err) == (0, "Ping source 'beat' created in namespace 'default'.\n", "")
    assert await spec_of(api_server, PINGS, "beat") == {
        "schedule": "*/5 * * * * *", "timezone": "Europe/Berlin", "data": "hello",
        "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                         "name": "default", "namespace": "default"}},
        "ceOverrides": {"extensions": {"team": "blue"}}}

    code, out, _ = await cli("source", "ping", "update", "beat", "--data", "aGk=",
                             "--encoding", "base64", "--ce-override", "team-",
                             "--sink", "http://127.0.0.1:9/")
    assert (code, out) == (0, "Ping source 'beat' updated in namespace 'default'.\n")
    spec = await spec_of(api_server, PINGS, "beat")
    assert (spec.get("data"), spec["dataBase64"], spec["sink"], "ceOverrides" in spec) == (
        None, "aGk=", {"uri": "http://127.0.0.1:9/"}, False)

    code, out, _ = await cli("source", "ping", "list")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "SCHEDULE", "SINK", "AGE", "CONDITIONS", "READY", "REASON"]
    assert row.startswith("beat") and "*/5 * * * * * (Europe/Berlin)" in row
    assert "http://127.0.0.1:9/" in row

    code, out, _ = await cli("source", "ping", "describe", "beat")
    assert code == 0
    assert "Schedule:" in out and "http://127.0.0.1:9/" in out

    code, out, _ = await cli("source", "ping", "delete", "beat")
    assert (code, out) == (0, "Ping source 'beat' deleted in namespace 'default'.\n")
    code, out, _ = await cli("source", "ping", "list")
    assert (code, out) == (0, "No ping sources found.\n")


async def test_a_bad_schedule_is_refused_naming_the_field(cli: Shoal) -> None:
    code, out, err = await cli("source", "ping", "create", "beat", "--schedule", "61 * * * *",
                               "--sink", "broker:default")
    assert code == 1 and out == ""
    assert "spec.schedule" in err and "61" in err
    code, _, err = await cli("source", "ping", "create", "beat", "--timezone", "Mars/Olympus",
                             "--sink", "broker:default")
    assert code == 1 and "spec.timezone" in err


async def test_the_sink_is_required_and_checked(cli: Shoal) -> None:
    code, _, err = await cli("source", "ping", "create", "beat")
    assert code == 2 and "--sink" in err
    code, _, err = await cli("source", "ping", "create", "beat", "--sink", "svc:x")
    assert code == 1 and "--sink" in err and "ksvc" in err


async def test_apiserver_resources_mode_owner(cli: Shoal, api_server: Any) -> None:
    code, out, _ = await cli("source", "apiserver", "create", "watch", "--resource",
                             "Event:v1", "--resource",
                             "Service:serving.knative.dev/v1:app=shop,tier=web", "--mode",
                             "Resource", "--service-account", "robot", "--owner",
                             "Configuration:serving.knative.dev/v1", "--sink", "ksvc:display")
    assert (code, out) == (0, "ApiServer source 'watch' created in namespace 'default'.\n")
    spec = await spec_of(api_server, APISERVERS, "watch")
    assert spec["resources"] == [
        {"apiVersion": "v1", "kind": "Event"},
        {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
         "selector": {"matchLabels": {"app": "shop", "tier": "web"}}}]
    assert (spec["mode"], spec["serviceAccountName"], spec["owner"]) == (
        "Resource", "robot", {"apiVersion": "serving.knative.dev/v1", "kind": "Configuration"})

    code, out, _ = await cli("source", "apiserver", "update", "watch", "--mode", "Reference")
    assert code == 0
    assert (await spec_of(api_server, APISERVERS, "watch"))["mode"] == "Reference"
    code, out, _ = await cli("source", "apiserver", "list")
    assert "Event:v1 Service:serving.knative.dev/v1:app=shop,tier=web" in out


async def test_apiserver_errors_name_the_flag(cli: Shoal) -> None:
    code, _, err = await cli("source", "apiserver", "create", "w", "--sink", "ksvc:x")
    assert code == 1 and "--resource" in err
    code, _, err = await cli("source", "apiserver", "create", "w", "--resource", "Event",
                             "--sink", "ksvc:x")
    assert code == 1 and "--resource" in err and "KIND:APIVERSION" in err
    code, _, err = await cli("source", "apiserver", "create", "w", "--resource", "Event:v1",
                             "--mode", "Everything", "--sink", "ksvc:x")
    assert code == 2 and "--mode" in err


async def test_update_with_nothing_to_change_says_so(cli: Shoal) -> None:
    await cli("source", "ping", "create", "beat", "--sink", "broker:default")
    code, _, err = await cli("source", "ping", "update", "beat")
    assert code == 1 and "nothing to update" in err


async def test_source_list_shows_every_kind(cli: Shoal) -> None:
    code, out, _ = await cli("source", "list")
    assert (code, out) == (0, "No sources found.\n")
    await cli("source", "ping", "create", "beat", "--sink", "broker:default")
    await cli("source", "apiserver", "create", "watch", "--resource", "Event:v1",
              "--sink", "ksvc:display")
    code, out, _ = await cli("source", "list")
    lines = [line.split() for line in out.splitlines()]
    assert lines == [
        ["NAME", "TYPE", "RESOURCE", "SINK", "READY"],
        ["beat", "PingSource", "pingsources.sources.knative.dev", "broker:default",
         "<unknown>"],
        ["watch", "ApiServerSource", "apiserversources.sources.knative.dev", "ksvc:display",
         "<unknown>"]]


async def test_binding_subject_by_name_or_selector(cli: Shoal, api_server: Any) -> None:
    bindings = default_catalog().require("sinkbindings")
    code, out, _ = await cli("source", "binding", "create", "one", "--subject",
                             "Service:serving.knative.dev/v1:hello", "--sink", "broker:default")
    assert (code, out) == (0, "Sink binding 'one' created in namespace 'default'.\n")
    assert (await spec_of(api_server, bindings, "one"))["subject"] == {
        "apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "hello",
        "namespace": "default"}
    code, _, _ = await cli("source", "binding", "create", "many", "--subject",
                           "Service:serving.knative.dev/v1:app=shop", "--sink", "broker:default")
    assert code == 0
    assert (await spec_of(api_server, bindings, "many"))["subject"]["selector"] == {
        "matchLabels": {"app": "shop"}}
    code, out, _ = await cli("source", "binding", "list")
    assert "Service:serving.knative.dev/v1:app=shop" in out
    code, _, err = await cli("source", "binding", "create", "bad", "--subject", "Service:v1",
                             "--sink", "broker:default")
    assert code == 1 and "--subject" in err
    code, _, err = await cli("source", "binding", "create", "bad", "--sink", "broker:default")
    assert code == 1 and "--subject" in err


async def test_container_command_image_env(cli: Shoal, api_server: Any) -> None:
    containers = default_catalog().require("containersources")
    code, out, _ = await cli("source", "container", "create", "gen", "--cmd", "python3",
                             "--arg=-m", "--arg", "gen", "-e", "A=1", "--env", "B=2",
                             "--sink", "broker:default")
    assert (code, out) == (0, "Container source 'gen' created in namespace 'default'.\n")
    spec = await spec_of(api_server, containers, "gen")
    assert spec["template"]["spec"]["containers"] == [{
        "name": "gen-0", "command": ["python3"], "args": ["-m", "gen"],
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]
    code, _, _ = await cli("source", "container", "update", "gen", "--env", "A-",
                           "--image", "example.com/gen:2")
    assert code == 0
    (container,) = (await spec_of(api_server, containers, "gen"))["template"]["spec"][
        "containers"]
    assert (container["image"], container["env"]) == (
        "example.com/gen:2", [{"name": "B", "value": "2"}])
    code, out, _ = await cli("source", "container", "list")
    assert "example.com/gen:2" in out
    code, _, err = await cli("source", "container", "create", "bare", "--sink", "broker:default")
    assert code == 1 and "--image" in err
