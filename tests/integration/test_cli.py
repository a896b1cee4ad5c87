"""The ``shoal`` command against a real API server: apply, get, describe, delete, kubeconfig.

Each command runs through ``main([...])`` in a worker thread (it runs its own event loop)
while the server keeps serving on the test's loop.
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
from shoal.cli.config import write_server_file
from shoal.cli.main import main
from shoal.client.rest import RestClient

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
      - image: ghcr.io/example/hello:1
"""

INVALID = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: broken
spec:
  template:
    spec:
      containers:
      - env: [{name: A, value: b}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: after-broken
"""


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


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(MANIFEST)
    return path


async def test_apply_creates_then_is_unchanged_then_configures(
    shoal: Shoal, manifest: Path
) -> None:
    code, out, err = await shoal("apply", "-f", str(manifest))
    assert code == 0, err
    assert out.splitlines() == [
        "configmap/settings created",
        "service.serving.knative.dev/hello created",
    ]

    code, out, _ = await shoal("apply", "-f", str(manifest))
    assert out.splitlines() == [
        "configmap/settings unchanged",
        "service.serving.knative.dev/hello unchanged",
    ]

    await asyncio.to_thread(manifest.write_text, MANIFEST.replace("hello:1", "hello:2"))
    code, out, _ = await shoal("apply", "-f", str(manifest))
    assert code == 0
    assert out.splitlines() == [
        "configmap/settings unchanged",
        "service.serving.knative.dev/hello configured",
    ]
    code, out, _ = await shoal("get", "ksvc", "hello", "-o", "json")
    image = json.loads(out)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/example/hello:2"


async def test_apply_server_dry_run_stores_nothing(shoal: Shoal, manifest: Path) -> None:
    code, out, _ = await shoal("apply", "-f", str(manifest), "--dry-run")
    assert code == 0
    assert out.splitlines()[0] == "configmap/settings created (server dry run)"
    code, _, err = await shoal("get", "cm", "settings")
    assert code == 1 and "NotFound" in err


async def test_apply_reports_each_bad_field_and_goes_on(shoal: Shoal, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(INVALID)
    code, out, err = await shoal("apply", "-f", str(path))
    assert code == 1
    assert out.splitlines() == ["configmap/after-broken created"]
    first, *causes = err.splitlines()
    assert first.startswith(f'Error from server (Invalid): error when creating "{path}": ')
    assert 'Service.serving.knative.dev "broken" is invalid' in first
    assert any(c.startswith("* spec.template.spec.containers[0].image: ") for c in causes)


async def test_apply_unknown_kind_and_namespace_mismatch(shoal: Shoal, tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: other}\n"
    )
    code, _, err = await shoal("apply", "-f", str(path), "-n", "default")
    assert code == 1
    assert 'no matches for kind "Widget" in version "example.com/v1"' in err
    assert 'the namespace from the provided object "other" does not match' in err


async def test_get_prints_the_servers_table(shoal: Shoal, manifest: Path) -> None:
    await shoal("apply", "-f", str(manifest))
    code, out, _ = await shoal("get", "ksvc")
    assert code == 0
    header, row = out.splitlines()
    rt = default_catalog().resolve("ksvc")
    assert rt is not None
    assert header.split() == ["NAME", *[c.name.upper() for c in rt.columns if c.priority == 0]]
    assert row.split()[0] == "hello"

    code, out, _ = await shoal("get", "cm", "-A")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["NAMESPACE", "NAME", "DATA"]
    assert any(line.split()[:3] == ["default", "settings", "1"] for line in lines[1:])
    assert lines[0].index(" NAME ") + 1 == lines[1].index(lines[1].split()[1])  # aligned

    code, out, _ = await shoal("get", "ksvc", "hello", "-o", "name")
    assert out == "service.serving.knative.dev/hello\n"

    code, out, _ = await shoal("get", "ksvc,cm")
    names = [line.split()[0] for line in out.splitlines() if line]
    assert "service.serving.knative.dev/hello" in names and "configmap/settings" in names
    assert "" in out.splitlines()  # a blank line between the kinds' tables


async def test_get_nothing_and_missing_names(shoal: Shoal) -> None:
    code, out, err = await shoal("get", "ksvc")
    assert (code, out) == (0, "")
    assert err == "No resources found in default namespace.\n"
    code, _, err = await shoal("get", "ksvc", "nope")
    assert code == 1
    assert err == 'Error from server (NotFound): services.serving.knative.dev "nope" not found\n'
    code, _, err = await shoal("get", "widgets")
    assert code == 1 and err == 'error: the server doesn\'t have a resource type "widgets"\n'


async def test_get_yaml_of_one_object_and_of_a_list(shoal: Shoal, manifest: Path) -> None:
    await shoal("apply", "-f", str(manifest))
    code, out, _ = await shoal("get", "service.serving.knative.dev", "hello", "-o", "yaml")
    assert code == 0
    obj = yaml.safe_load(out)
    assert (obj["kind"], obj["metadata"]["name"]) == ("Service", "hello")
    assert obj["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
    _, out, _ = await shoal("get", "cm", "-o", "yaml")
    listed = yaml.safe_load(out)
    assert listed["kind"] == "List"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["settings"]
    assert all(i["kind"] == "ConfigMap" for i in listed["items"])


async def test_get_watch_prints_new_rows(shoal: Shoal, client: RestClient) -> None:
    cm = default_catalog().resolve("cm")
    assert cm is not None

    async def change() -> None:
        await asyncio.sleep(0.3)
        await client.create(cm, {"metadata": {"name": "late", "namespace": "default"}})

    writer = asyncio.create_task(change())
    code, out, _ = await shoal("get", "cm", "-w", "--request-timeout", "2s")
    await writer
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DATA", "AGE"]
    assert lines[-1].split()[:2] == ["late", "0"]


async def test_describe_shows_fields_conditions_and_events(
    shoal: Shoal, client: RestClient, manifest: Path
) -> None:
    await shoal("apply", "-f", str(manifest))
    ksvc = default_catalog().resolve("ksvc")
    event = default_catalog().resolve("events")
    assert ksvc is not None and event is not None
    svc = await client.get(ksvc, "hello", "default")
    svc["status"] = {
        "url": "http://hello.default.localhost",
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "RevisionMissing",
                "message": "Configuration is waiting",
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            }
        ],
    }
    await client.update_status(ksvc, svc)
    await client.create(
        event,
        {
            "metadata": {"name": "hello.1", "namespace": "default"},
            "involvedObject": {
                "kind": "Service",
                "name": "hello",
                "namespace": "default",
                "uid": svc["metadata"]["uid"],
            },
            "reason": "Created",
            "message": 'Created Configuration "hello"',
            "type": "Normal",
            "source": {"component": "service-controller"},
            "lastTimestamp": svc["metadata"]["creationTimestamp"],
            "count": 1,
        },
    )

    code, out, err = await shoal("describe", "ksvc", "hello")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["Name:", "hello"]
    assert "API Version:  serving.knative.dev/v1" in lines
    assert "Kind:         Service" in lines
    assert any(line.strip(" -").startswith("Image:") and "hello:1" in line for line in lines)
    assert "  URL:  http://hello.default.localhost" in lines
    at = lines.index("Conditions:")
    assert lines[at + 1].split()[:2] == ["Type", "Status"]
    assert lines[at + 3].split()[:3] == ["Ready", "False", "RevisionMissing"]
    at = lines.index("Events:")
    assert lines[at + 1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert lines[at + 3].split()[:2] == ["Normal", "Created"]
    assert "service-controller" in lines[at + 3]


async def test_delete_and_delete_again(shoal: Shoal, manifest: Path) -> None:
    await shoal("apply", "-f", str(manifest))
    code, out, _ = await shoal("delete", "ksvc", "hello", "--cascade", "foreground")
    assert (code, out) == (0, 'service.serving.knative.dev "hello" deleted\n')
    code, out, err = await shoal("delete", "ksvc", "hello")
    assert (code, out) == (1, "")
    assert err == ('Error from server (NotFound): services.serving.knative.dev "hello" not found\n')
    code, _, _ = await shoal("delete", "ksvc", "hello", "--ignore-not-found")
    assert code == 0
    code, out, _ = await shoal("delete", "-f", str(manifest), "--ignore-not-found")
    assert out == 'configmap "settings" deleted\n'


async def test_delete_all_of_a_kind(shoal: Shoal, client: RestClient) -> None:
    cm = default_catalog().resolve("cm")
    assert cm is not None
    for name in ("a", "b"):
        await client.create(cm, {"metadata": {"name": name, "namespace": "default"}})
    code, out, _ = await shoal("delete", "cm", "--all")
    assert code == 0
    assert out.splitlines() == ['configmap "a" deleted', 'configmap "b" deleted']


async def test_kubeconfig_uses_the_running_servers_file(
    api_server: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SHOAL_SERVER", "SHOAL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    write_server_file(tmp_path, api_server.url, "t0ken")
    monkeypatch.setenv("SHOAL_DATA_DIR", str(tmp_path))
    assert await asyncio.to_thread(main, ["kubeconfig"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["clusters"][0]["cluster"]["server"] == api_server.url
    assert config["users"][0]["user"] == {"token": "t0ken"}
    assert config["current-context"] == "shoal"
    # Other commands find the server the same way, with no flags.
    assert await asyncio.to_thread(main, ["get", "namespaces", "-o", "name"]) == 0
    assert "namespace/default" in capsys.readouterr().out.splitlines()


async def test_apply_checks_unknown_fields_strictly_unless_told(
    shoal: Shoal, manifest: Path
) -> None:
    await shoal("apply", "-f", str(manifest))
    text = MANIFEST + "  bogus: 1\n"
    await asyncio.to_thread(manifest.write_text, text)
    code, out, err = await shoal("apply", "-f", str(manifest))
    assert code == 1 and "hello" not in out
    assert err.startswith("Error from server (BadRequest)") and "bogus" in err
    code, out, err = await shoal("apply", "-f", str(manifest), "--validate", "warn")
    assert code == 0
    assert err.startswith("Warning: ") and "bogus" in err
