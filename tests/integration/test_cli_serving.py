"""The serving verbs of ``shoal`` against a real API server.

No controllers run here: objects are admitted (defaulted, validated) and stored, and a test
that needs a status (a URL, a latest revision, Ready) writes it itself, as the Service,
Configuration and Route reconcilers would. Commands run through ``main([...])`` in a worker
thread (each runs its own event loop); a command that waits runs in the background while
the test plays the controllers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from shoal.api.catalog import default_catalog
from shoal.api.errors import NotFound
from shoal.cli.commands.logs import LogsUnavailable, fetch_logs
from shoal.cli.main import main
from shoal.client.rest import RestClient

SERVICES = default_catalog().require("ksvc")
REVISIONS = default_catalog().require("revisions")
ROUTES = default_catalog().require("routes")
DOMAIN_MAPPINGS = default_catalog().require("domainmappings")
URL = "http://hello.default.localhost:8080"
T0 = "2024-01-01T00:00:00Z"
WAITING = 'Configuration "hello" is waiting for a Revision to become ready.'


class Shoal:
    """Runs ``shoal`` against one server; in the foreground or in the background."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.capsys = capsys
        self.out = ""
        self.err = ""

    def _argv(self, argv: tuple[str, ...]) -> list[str]:
        return [*argv, "--server", self.url]

    async def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, self._argv(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def start(self, *argv: str) -> asyncio.Task[int]:
        self.capsys.readouterr()
        self.out = self.err = ""
        return asyncio.create_task(asyncio.to_thread(main, self._argv(argv)))

    def _collect(self) -> None:
        out, err = self.capsys.readouterr()
        self.out += out
        self.err += err

    async def printed(self, text: str) -> None:
        """Wait until a background command has printed ``text``."""
        for _ in range(500):
            self._collect()
            if text in self.out:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{text!r} not printed; so far: {self.out!r}")

    async def finish(self, task: asyncio.Task[int]) -> tuple[int, str, str]:
        code = await task
        self._collect()
        return code, self.out, self.err


@pytest.fixture
def shoal(
    api_server: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Shoal:
    for name in ("SHOAL_SERVER", "SHOAL_TOKEN", "SHOAL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return Shoal(api_server.url, capsys)


@pytest.fixture
async def client(api_server: Any) -> AsyncIterator[RestClient]:
    async with RestClient(api_server.url) as rest:
        yield rest


async def eventually(probe: Callable[[], Awaitable[Any]]) -> Any:
    for _ in range(500):
        try:
            return await probe()
        except NotFound:
            await asyncio.sleep(0.02)
    raise AssertionError("never appeared")


def ready(status: str = "True", reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": T0,
    }


async def play_service_controllers(
    client: RestClient, *, latest: str = "hello-00001", **ready_args: str
) -> None:
    """Write what the Service reconciler would: URL, latest revisions, Ready."""
    service = await client.get(SERVICES, "hello", "default")
    service["status"] = {
        "observedGeneration": service["metadata"]["generation"],
        "url": URL,
        "latestCreatedRevisionName": latest,
        "latestReadyRevisionName": latest,
        "conditions": [ready(**ready_args)],
        "traffic": [{"revisionName": latest, "latestRevision": True, "percent": 100}],
    }
    await client.update_status(SERVICES, service)


async def make_revision(client: RestClient, name: str, generation: int) -> None:
    await client.create(
        REVISIONS,
        {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Revision",
            "metadata": {
                "name": name,
                "namespace": "default",
                "labels": {
                    "serving.knative.dev/service": "hello",
                    "serving.knative.dev/configurationGeneration": str(generation),
                },
            },
            "spec": {"containers": [{"image": f"img:{generation}"}]},
        },
    )
    revision = await client.get(REVISIONS, name, "default")
    revision["status"] = {"observedGeneration": 1, "conditions": [ready()]}
    await client.update_status(REVISIONS, revision)


# -- create, update, apply -------------------------------------------------------------------


async def test_create_stores_what_the_flags_say(shoal: Shoal, client: RestClient) -> None:
    code, out, err = await shoal(
        "service", "create", "hello", "--image", "ghcr.io/x/hello:1",
        "-e", "TARGET=world", "--env-from", "cm:settings", "-p", "8081",
        "--scale-min", "1", "--scale-max", "3", "--concurrency-limit", "4",
        "--timeout", "60", "-l", "app=shop", "-a", "team=web", "--cluster-local",
        "--revision-name", "{{.Service}}-v{{.Generation}}", "--no-wait",
    )  # fmt: skip
    assert code == 0, err
    assert out == "Service 'hello' created in namespace 'default'.\n"
    stored = await client.get(SERVICES, "hello", "default")
    assert stored["metadata"]["labels"] == {
        "app": "shop",
        "networking.knative.dev/visibility": "cluster-local",
    }
    assert stored["metadata"]["annotations"]["team"] == "web"
    template = stored["spec"]["template"]
    assert template["metadata"]["name"] == "hello-v1"
    assert template["metadata"]["annotations"] == {
        "team": "web",
        "autoscaling.knative.dev/min-scale": "1",
        "autoscaling.knative.dev/max-scale": "3",
    }
    assert (template["spec"]["containerConcurrency"], template["spec"]["timeoutSeconds"]) == (4, 60)
    container = template["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/x/hello:1"
    assert container["env"] == [{"name": "TARGET", "value": "world"}]
    assert container["envFrom"] == [{"configMapRef": {"name": "settings"}}]
    assert container["ports"] == [{"containerPort": 8081}]
    assert stored["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]


async def test_create_waits_until_ready_and_prints_the_url(
    shoal: Shoal, client: RestClient
) -> None:
    task = shoal.start(
        "service", "create", "hello", "--cmd", "python3", "--arg=-m", "--arg", "http.server"
    )
    await eventually(lambda: client.get(SERVICES, "hello", "default"))
    await play_service_controllers(client, status="Unknown", reason="Deploying", message=WAITING)
    await shoal.printed(WAITING)
    await play_service_controllers(client)
    code, out, err = await shoal.finish(task)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:2] == ["Creating service 'hello' in namespace 'default':", ""]
    assert lines[2].endswith(f"s {WAITING}") and lines[3].endswith("s Ready to serve.")
    assert lines[4:] == [
        "",
        "Service 'hello' created to latest revision 'hello-00001' is available at URL:",
        URL,
    ]
    container = (await client.get(SERVICES, "hello", "default"))["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert (container["command"], container["args"]) == (["python3"], ["-m", "http.server"])
    assert "image" not in container


async def test_a_failed_revision_ends_the_wait(shoal: Shoal, client: RestClient) -> None:
    task = shoal.start("service", "create", "hello", "--image", "nope")
    await eventually(lambda: client.get(SERVICES, "hello", "default"))
    message = 'Revision "hello-00001" failed with message: the app exited with status 3.'
    await play_service_controllers(client, status="False", reason="RevisionFailed", message=message)
    code, _, err = await shoal.finish(task)
    assert code == 1
    assert err == f"error: RevisionFailed: {message}\n"


async def test_waiting_gives_up_after_the_timeout(shoal: Shoal) -> None:
    code, out, err = await shoal(
        "service", "create", "hello", "--image", "i", "--wait-timeout", "1"
    )
    assert code == 1
    assert out.startswith("Creating service 'hello'")
    assert err == "error: timeout: service 'hello' not ready after 1 seconds\n"


async def test_create_refuses_an_existing_service_unless_forced(
    shoal: Shoal, client: RestClient
) -> None:
    assert (await shoal("service", "create", "hello", "--image", "a", "-e", "A=1", "--no-wait"))[
        0
    ] == 0
    code, _, err = await shoal("service", "create", "hello", "--image", "b", "--no-wait")
    assert code == 1
    assert "already exists and no --force option was given" in err
    code, out, err = await shoal(
        "service", "create", "hello", "--image", "b", "--force", "--no-wait"
    )
    assert (code, out) == (0, "Service 'hello' replaced in namespace 'default'.\n"), err
    stored = await client.get(SERVICES, "hello", "default")
    container = stored["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "b" and "env" not in container
    assert stored["metadata"]["annotations"]["serving.knative.dev/creator"] == "system:admin"
    assert stored["metadata"]["generation"] == 2


async def test_update_env_and_traffic(shoal: Shoal, client: RestClient) -> None:
    await shoal("service", "create", "hello", "--image", "a", "-e", "A=1", "-e", "B=2", "--no-wait")
    code, out, err = await shoal(
        "service", "update", "hello", "-e", "A-", "-e", "C=3", "--image", "a:2", "--no-wait"
    )
    assert (code, out) == (0, "Service 'hello' updated in namespace 'default'.\n"), err
    stored = await client.get(SERVICES, "hello", "default")
    container = stored["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}]
    assert container["image"] == "a:2"

    code, _, err = await shoal(
        "service", "update", "hello", "--tag", "hello-00001=v1,@latest=current",
        "--traffic", "v1=20", "--traffic", "@latest=80", "--no-wait",
    )  # fmt: skip
    assert code == 0, err
    stored = await client.get(SERVICES, "hello", "default")
    assert stored["spec"]["traffic"] == [
        {"latestRevision": True, "percent": 80, "tag": "current"},
        {"latestRevision": False, "percent": 20, "revisionName": "hello-00001", "tag": "v1"},
    ]
    generation = stored["metadata"]["generation"]

    code, _, err = await shoal("service", "update", "hello", "--traffic", "v1=50", "--no-wait")
    assert code == 1
    assert err == (
        "error: invalid values for --traffic: the percents sum to 50, they must sum to 100\n"
    )
    code, _, err = await shoal("service", "update", "hello", "--untag", "nope", "--no-wait")
    assert code == 1 and "--untag: tag(s) nope not present" in err
    assert (await client.get(SERVICES, "hello", "default"))["metadata"]["generation"] == generation

    code, _, err = await shoal("service", "update", "hello", "--untag", "v1", "--no-wait")
    assert code == 0, err
    stored = await client.get(SERVICES, "hello", "default")
    assert stored["spec"]["traffic"] == [
        {"latestRevision": True, "percent": 80, "tag": "current"},
        {"latestRevision": False, "percent": 20, "revisionName": "hello-00001"},
    ]


async def test_an_update_that_keeps_the_revision_says_unchanged(
    shoal: Shoal, client: RestClient
) -> None:
    await shoal("service", "create", "hello", "--image", "a", "--no-wait")
    await play_service_controllers(client)
    task = shoal.start("service", "update", "hello", "--tag", "@latest=current")
    await shoal.printed("Updating Service 'hello' in namespace 'default':")
    await asyncio.sleep(0.1)
    await play_service_controllers(client)
    code, out, err = await shoal.finish(task)
    assert code == 0, err
    assert out.endswith(
        "Service 'hello' with latest revision 'hello-00001' (unchanged) is available at URL:\n"
        f"{URL}\n"
    )


async def test_invalid_flags_are_reported_by_field(shoal: Shoal) -> None:
    code, _, err = await shoal(
        "service", "create", "hello", "--image", "i", "--scale-min", "5", "--scale-max", "2",
        "--no-wait",
    )  # fmt: skip
    assert code == 1
    assert "Error from server (Invalid)" in err
    assert "spec.template.metadata.annotations" in err


async def test_apply_creates_then_reports_no_change_then_applies(
    shoal: Shoal, client: RestClient, tmp_path: Path
) -> None:
    declared: dict[str, Any] = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello"},
        "spec": {"template": {"spec": {"containers": [{"image": "a"}]}}},
    }
    path = tmp_path / "svc.yaml"
    path.write_text(yaml.safe_dump(declared))
    code, out, err = await shoal("service", "apply", "-f", str(path), "--no-wait")
    assert (code, out) == (0, "Service 'hello' created in namespace 'default'.\n"), err

    await play_service_controllers(client)
    code, out, err = await shoal("service", "apply", "-f", str(path), "--no-wait")
    assert code == 0, err
    assert out == (
        "No changes to apply to service 'hello'.\n"
        "Service 'hello' with latest revision 'hello-00001' (unchanged) is available at URL:\n"
        f"{URL}\n"
    )

    declared["spec"]["template"]["spec"]["containers"][0]["image"] = "b"
    path.write_text(yaml.safe_dump(declared))
    code, out, err = await shoal("service", "apply", "-f", str(path), "--no-wait")
    assert (code, out) == (0, "Service 'hello' applied in namespace 'default'.\n"), err
    stored = await client.get(SERVICES, "hello", "default")
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "b"
    assert stored["metadata"]["annotations"]["serving.knative.dev/creator"] == "system:admin"

    code, out, _ = await shoal("service", "apply", "hello", "--image", "b", "--no-wait")
    assert out.startswith("No changes to apply")
    code, out, _ = await shoal(
        "service", "apply", "hello", "--image", "b", "-e", "A=1", "--no-wait"
    )
    assert out == "Service 'hello' applied in namespace 'default'.\n"
    code, _, err = await shoal("service", "apply", "other", "-f", str(path))
    assert code == 1 and "does not match the name in the file, 'hello'" in err


# -- reading ---------------------------------------------------------------------------------


async def test_list_and_describe_services(shoal: Shoal, client: RestClient) -> None:
    code, out, _ = await shoal("service", "list")
    assert (code, out) == (0, "No services found.\n")
    await shoal("service", "create", "hello", "--image", "img:1", "--no-wait")
    await make_revision(client, "hello-00001", 1)
    await play_service_controllers(client)

    code, out, _ = await shoal("service", "list")
    head, row = out.splitlines()
    assert head.split() == ["NAME", "URL", "LATEST", "AGE", "CONDITIONS", "READY", "REASON"]
    assert row.split()[:3] == ["hello", URL, "hello-00001"]
    assert row.split()[-5:] == ["1", "OK", "/", "1", "True"]
    code, out, _ = await shoal("service", "list", "-A")
    assert out.splitlines()[1].split()[:2] == ["default", "hello"]

    code, out, _ = await shoal("service", "describe", "hello")
    assert code == 0
    assert "URL:        " + URL in out
    assert "  100%  @latest (hello-00001) [1] (" in out
    assert "        Image:  img:1" in out
    assert "  ++ Ready" in out
    code, out, _ = await shoal("service", "describe", "hello", "-o", "url")
    assert out == URL + "\n"
    code, out, _ = await shoal("service", "describe", "hello", "-o", "yaml")
    assert yaml.safe_load(out)["kind"] == "Service"
    code, _, err = await shoal("service", "describe", "nope")
    assert code == 1 and "not found" in err


async def test_revisions(shoal: Shoal, client: RestClient) -> None:
    await shoal("service", "create", "hello", "--image", "img:1", "--no-wait")
    await make_revision(client, "hello-00001", 1)
    await make_revision(client, "hello-00002", 2)
    service = await client.get(SERVICES, "hello", "default")
    service["status"] = {
        "traffic": [
            {"revisionName": "hello-00002", "latestRevision": True, "percent": 100},
            {"revisionName": "hello-00001", "latestRevision": False, "percent": 0, "tag": "old"},
        ]
    }
    await client.update_status(SERVICES, service)

    code, out, _ = await shoal("revision", "list", "-s", "hello")
    head, *rows = out.splitlines()
    assert head.split()[:5] == ["NAME", "SERVICE", "TRAFFIC", "TAGS", "GENERATION"]
    assert rows[0].split()[:4] == ["hello-00002", "hello", "100%", "2"]
    assert rows[1].split()[:5] == ["hello-00001", "hello", "0%", "old", "1"]
    code, out, _ = await shoal("revision", "list", "-s", "other")
    assert out == "No revisions found.\n"

    code, out, _ = await shoal("revision", "describe", "hello-00002")
    assert code == 0
    assert "Image:      img:2" in out and "Service:    hello" in out

    code, out, _ = await shoal("revision", "delete", "hello-00001", "nope")
    assert code == 1
    assert out == "Revision 'hello-00001' deleted in namespace 'default'.\n"
    with pytest.raises(NotFound):
        await client.get(REVISIONS, "hello-00001", "default")


async def test_routes(shoal: Shoal, client: RestClient) -> None:
    await client.create(
        ROUTES,
        {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Route",
            "metadata": {"name": "hello", "namespace": "default"},
            "spec": {"traffic": [{"configurationName": "hello", "percent": 100, "tag": "t"}]},
        },
    )
    code, out, _ = await shoal("route", "list")
    assert out.splitlines()[1].split() == ["hello", "Unknown"]
    route = await client.get(ROUTES, "hello", "default")
    route["status"] = {
        "url": URL,
        "conditions": [ready()],
        "traffic": [
            {
                "revisionName": "hello-00001",
                "latestRevision": True,
                "percent": 100,
                "tag": "t",
                "url": "http://t-hello.default.localhost:8080",
            }
        ],
    }
    await client.update_status(ROUTES, route)
    code, out, _ = await shoal("route", "list")
    assert out.splitlines()[1].split() == ["hello", URL, "True"]
    code, out, _ = await shoal("route", "describe", "hello")
    assert code == 0
    assert "  100%  @latest (hello-00001) #t\n" in out
    assert "        URL:  http://t-hello.default.localhost:8080\n" in out


async def test_domain_mappings(shoal: Shoal, client: RestClient) -> None:
    code, out, err = await shoal("domain", "create", "shop.example.com", "--ref", "ksvc:hello")
    assert (code, out) == (
        0,
        "Domain mapping 'shop.example.com' created in namespace 'default'.\n",
    ), err
    mapping = await client.get(DOMAIN_MAPPINGS, "shop.example.com", "default")
    assert mapping["spec"]["ref"] == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "hello",
        "namespace": "default",
    }
    code, out, _ = await shoal("domain", "list")
    assert out.splitlines()[0].split() == ["NAME", "URL", "READY", "KSVC"]
    assert out.splitlines()[1].split() == ["shop.example.com", "Unknown", "hello"]
    code, out, _ = await shoal("domain", "describe", "shop.example.com")
    assert "Reference:  ksvc:hello" in out
    code, _, err = await shoal("domain", "create", "nodots", "--ref", "hello")
    assert code == 1 and "Invalid" in err
    code, out, _ = await shoal("domain", "delete", "shop.example.com")
    assert out == "Domain mapping 'shop.example.com' deleted in namespace 'default'.\n"


async def test_delete_waits_until_the_service_is_gone(shoal: Shoal, client: RestClient) -> None:
    await shoal("service", "create", "hello", "--image", "a", "--no-wait")
    service = await client.get(SERVICES, "hello", "default")
    service["metadata"]["finalizers"] = ["test/hold"]
    await client.update(SERVICES, service)
    task = shoal.start("service", "delete", "hello", "--wait")
    await asyncio.sleep(0.3)
    assert not task.done()
    held = await client.get(SERVICES, "hello", "default")
    held["metadata"]["finalizers"] = []
    await client.update(SERVICES, held)
    code, out, err = await shoal.finish(task)
    assert (code, out) == (0, "Service 'hello' successfully deleted in namespace 'default'.\n"), err
    code, _, err = await shoal("service", "delete", "hello")
    assert code == 1 and "not found" in err


# -- logs ------------------------------------------------------------------------------------


async def test_logs_say_they_come_with_the_runtimes(shoal: Shoal, client: RestClient) -> None:
    await shoal("service", "create", "hello", "--image", "a", "--no-wait")
    code, _, err = await shoal("logs", "hello")
    assert code == 1 and "has no revision yet" in err
    await play_service_controllers(client)
    code, out, err = await shoal("logs", "hello")
    assert (code, out) == (1, "")
    assert "does not serve logs yet: logs come with the runtimes" in err
    code, _, err = await shoal("logs", "hello", "--revision", "hello-00009")
    assert code == 1 and "not found" in err


async def test_fetch_logs_reads_the_log_endpoint() -> None:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.path_qs)
        if request.match_info["revision"] != "hello-00001":
            raise web.HTTPNotFound(
                text='{"kind": "Status", "code": 404, "reason": "NotFound", '
                '"message": "revision gone", "details": {"name": "x"}}'
            )
        return web.Response(text="line one\nline two\n")

    app = web.Application()
    app.router.add_get("/logs/{namespace}/{revision}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        chunks: list[bytes] = []
        await fetch_logs(server, None, "default", "hello-00001", chunks.append, follow=True)
        assert b"".join(chunks) == b"line one\nline two\n"
        assert seen == ["/logs/default/hello-00001?follow=true"]
        with pytest.raises(NotFound, match="revision gone"):
            await fetch_logs(server, None, "default", "other", chunks.append)
        with pytest.raises(LogsUnavailable):
            await fetch_logs(server + "/nothing-here", None, "default", "x", chunks.append)
    finally:
        await runner.cleanup()
