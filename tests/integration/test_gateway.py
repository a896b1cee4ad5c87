"""The gateway over real loopback sockets: routing, forwarding headers, the answers it
gives itself (404/502/503/504), keep-alive, pipelining and graceful stop."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest
from tests.integration.test_gateway_harness import (
    App,
    RawApp,
    activator_for,
    exchange,
    free_endpoint,
    json_body,
    route,
    running,
    set_endpoints,
)

from shoal.serving.activator import Timeouts
from shoal.serving.gateway import Gateway
from shoal.serving.routing import RoutingTable


@pytest.fixture
async def apps() -> AsyncIterator[dict[str, App]]:
    started = {name: await App(name).start() for name in ("hello-1", "hello-2", "other-1")}
    yield started
    for app in started.values():
        await app.stop()


@pytest.fixture
def table(apps: dict[str, App]) -> RoutingTable:
    table = RoutingTable(tag_header_routing=True, rng=random.Random(7))
    for name, app in apps.items():
        set_endpoints(table, f"default/{name}", [app.endpoint])
    table.update(route("hello", {"hello-1": 100}, tags={"candidate": "hello-2"}))
    table.update(route("other", {"other-1": 100}))
    return table


async def get(session: aiohttp.ClientSession, port: int, host: str, path: str = "/",
              headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    async with session.get(f"http://127.0.0.1:{port}{path}",
                           headers={"Host": host, **(headers or {})}) as response:
        return response.status, response.headers.get("x-revision", ""), await response.text()


async def test_routes_by_host_ignoring_port_and_case(table: RoutingTable) -> None:
    async with running(table) as gateway, aiohttp.ClientSession() as session:
        assert (await get(session, gateway.port, "hello.default.localhost"))[1] == "hello-1"
        assert (await get(session, gateway.port, f"Hello.Default.LOCALHOST:{gateway.port}")
                )[1] == "hello-1"
        assert (await get(session, gateway.port, "other.default.localhost"))[1] == "other-1"


async def test_tag_host_and_tag_header(table: RoutingTable) -> None:
    async with running(table) as gateway, aiohttp.ClientSession() as session:
        port = gateway.port
        assert (await get(session, port, "candidate-hello.default.localhost"))[1] == "hello-2"
        tagged = {"Knative-Serving-Tag": "candidate"}
        assert (await get(session, port, "hello.default.localhost", headers=tagged)
                )[1] == "hello-2"
        unknown = {"Knative-Serving-Tag": "nope"}  # falls back to the split
        assert (await get(session, port, "hello.default.localhost", headers=unknown)
                )[1] == "hello-1"
        table.tag_header_routing = False
        assert (await get(session, port, "hello.default.localhost", headers=tagged)
                )[1] == "hello-1"


async def test_cluster_local_routes_only_on_private_hosts(table: RoutingTable) -> None:
    table.update(route("hello", {"hello-1": 100}, cluster_local=True))
    async with running(table) as gateway, aiohttp.ClientSession() as session:
        status, _, text = await get(session, gateway.port, "hello.default.localhost")
        assert status == 404
        assert "hello.default.localhost" not in text.partition("known hosts:")[2]
        for host in ("hello.default.svc.cluster.local", "hello.default.svc", "hello.default"):
            assert (await get(session, gateway.port, host))[:2] == (200, "hello-1")


async def test_split_80_20_over_1000_requests(table: RoutingTable) -> None:
    table.update(route("hello", {"hello-1": 80, "hello-2": 20}))
    counts: Counter[str] = Counter()
    async with running(table) as gateway, aiohttp.ClientSession() as session:
        for _ in range(1000):
            status, revision, _ = await get(session, gateway.port, "hello.default.localhost")
            assert status == 200
            counts[revision] += 1
    assert 750 <= counts["hello-1"] <= 850
    assert counts["hello-1"] + counts["hello-2"] == 1000


async def test_forwarding_headers_reach_the_instance(table: RoutingTable,
                                                     apps: dict[str, App]) -> None:
    async with running(table) as gateway:
        host = f"hello.default.localhost:{gateway.port}"
        await exchange(gateway.port, (
            f"GET /p?q=1 HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-For: 10.0.0.1\r\n"
            "X-Forwarded-Proto: https\r\nConnection: keep-alive, X-Secret\r\n"
            "X-Secret: drop me\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\n\r\n").encode(),
            until=b"}")
    seen = {k.lower(): v for k, v in apps["hello-1"].seen[-1].items()}
    assert seen["host"] == host
    assert seen["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == host
    assert seen["forwarded"] == f'for=127.0.0.1;host="{host}";proto=http'
    assert seen["x-kept"] == "yes"
    assert "x-secret" not in seen and "keep-alive" not in seen


async def test_unknown_host_is_404_listing_external_hosts(table: RoutingTable) -> None:
    table.update(route("secret", {"other-1": 100}, cluster_local=True))
    async with running(table) as gateway, aiohttp.ClientSession() as session:
        status, _, text = await get(session, gateway.port, "nope.default.localhost")
    assert status == 404
    assert "no Knative Service answers to host 'nope.default.localhost'" in text
    assert "hello.default.localhost" in text and "candidate-hello.default.localhost" in text
    assert "secret" not in text


async def test_a_request_held_past_the_revision_timeout_is_504(table: RoutingTable) -> None:
    set_endpoints(table, "default/hello-1", [])
    activator_for(table).backend("default/hello-1").configure(0, Timeouts(total=0.3))
    async with running(table) as gateway, aiohttp.ClientSession() as session:
        status, _, text = await get(session, gateway.port, "hello.default.localhost")
    assert (status, text) == (504, "request timeout\n")
    assert activator_for(table).backend("default/hello-1").stats.inflight == 0


async def test_a_held_request_goes_to_the_first_instance_that_gets_ready(
        table: RoutingTable, apps: dict[str, App]) -> None:
    set_endpoints(table, "default/hello-1", [])
    poked: list[str] = []
    held = asyncio.Event()

    def poke(key: str) -> None:
        poked.append(key)
        held.set()

    activator_for(table).poke = poke
    async with running(table) as gateway, aiohttp.ClientSession() as session:
        request = asyncio.create_task(get(session, gateway.port, "hello.default.localhost"))
        backend = activator_for(table).backend("default/hello-1")
        await asyncio.wait_for(held.wait(), 5)
        assert poked == ["default/hello-1"] and backend.held == 1
        assert not request.done()
        set_endpoints(table, "default/hello-1", [apps["hello-1"].endpoint])
        assert (await request)[:2] == (200, "hello-1")
    assert backend.held == 0 and backend.stats.inflight == 0


async def test_unreachable_instance_is_502(table: RoutingTable) -> None:
    set_endpoints(table, "default/hello-1", [free_endpoint()])
    async with running(table) as gateway, aiohttp.ClientSession() as session:
        status, _, text = await get(session, gateway.port, "hello.default.localhost")
    assert status == 502
    assert "cannot connect to revision default/hello-1" in text


async def test_reset_before_the_response_is_502(table: RoutingTable) -> None:
    raw = await RawApp(lambda head, n: b"").start()  # reads the request, closes, no answer
    set_endpoints(table, "default/hello-1", [raw.endpoint])
    try:
        async with running(table) as gateway, aiohttp.ClientSession() as session:
            status, _, text = await get(session, gateway.port, "hello.default.localhost")
            assert status == 502
            assert "closed the connection before answering" in text
            # the client's connection is still good for the next request
            assert (await get(session, gateway.port, "other.default.localhost"))[0] == 200
    finally:
        await raw.stop()


async def test_slow_response_is_504_after_the_revision_timeout(table: RoutingTable) -> None:
    activator_for(table).backend("default/hello-1").configure(0, Timeouts(total=0.2))
    loop = asyncio.get_running_loop()
    async with running(table) as gateway, aiohttp.ClientSession() as session:
        began = loop.time()
        status, _, text = await get(session, gateway.port, "hello.default.localhost",
                                    "/slow?delay=3")
        assert status == 504
        assert loop.time() - began < 2
        assert text == "request timeout\n"
        fast = await get(session, gateway.port, "hello.default.localhost")
        assert fast[0] == 200


async def test_keep_alive_reuses_client_and_upstream_connections(
        table: RoutingTable, apps: dict[str, App]) -> None:
    async with running(table) as gateway:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(20):
                assert (await get(session, gateway.port, "hello.default.localhost"))[0] == 200
        assert gateway.stats.connections == 1
        assert gateway.stats.requests == 20
        assert gateway.pool.opened == 1
        assert len(set(apps["hello-1"].peers)) == 1


async def test_pipelined_requests_are_answered_in_order(table: RoutingTable) -> None:
    async with running(table) as gateway:
        request = (b"GET /slow?delay=0.2 HTTP/1.1\r\nHost: hello.default.localhost\r\n\r\n"
                   b"GET /nowhere HTTP/1.1\r\nHost: nope.default.localhost\r\n\r\n"
                   b"POST /b HTTP/1.1\r\nHost: other.default.localhost\r\n"
                   b"Content-Length: 3\r\n\r\nabc"
                   b"HEAD /c HTTP/1.1\r\nHost: hello.default.localhost\r\n\r\n"
                   b"GET /d HTTP/1.1\r\nHost: other.default.localhost\r\n"
                   b"Connection: close\r\n\r\n")
        data = await exchange(gateway.port, request)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"200", b"404", b"200", b"200", b"200"]
    assert data.index(b"slow hello-1") < data.index(b"no Knative Service") < data.index(
        b'"path": "/b"') < data.index(b'"path": "/d"')
    assert b'"length": 3' in data


async def test_chunked_request_and_close_delimited_response(table: RoutingTable) -> None:
    raw = await RawApp(lambda head, n: b"HTTP/1.0 200 OK\r\nx-raw: 1\r\n\r\nuntil close").start()
    set_endpoints(table, "default/hello-2", [raw.endpoint])
    try:
        async with running(table) as gateway:
            # HTTP/1.1 client: the close-delimited body comes re-chunked, connection kept
            data = await exchange(gateway.port, (
                b"POST /x HTTP/1.1\r\nHost: candidate-hello.default.localhost\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), until=b"0\r\n\r\n")
            assert b"transfer-encoding: chunked" in data.lower()
            assert data.endswith(b"b\r\nuntil close\r\n0\r\n\r\n")
            assert b"transfer-encoding: chunked" in raw.heads[-1].lower()
            # HTTP/1.0 client: close-delimited, as the instance sent it
            data = await exchange(gateway.port, (
                b"GET /x HTTP/1.0\r\nHost: candidate-hello.default.localhost\r\n\r\n"))
            assert data.endswith(b"\r\n\r\nuntil close")
            assert b"connection: close" in data.lower()
            # and a chunked upload is re-framed for an aiohttp instance
            data = await exchange(gateway.port, (
                b"POST /x HTTP/1.1\r\nHost: other.default.localhost\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n4\r\ncdef\r\n0\r\n\r\n"),
                until=b"}")
            assert json_body(data)["length"] == 6
    finally:
        await raw.stop()


async def test_a_pooled_connection_the_instance_closed_is_retried_once(
        table: RoutingTable) -> None:
    # the instance keeps the first connection alive, then drops the second request on it
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    raw = await RawApp(lambda head, n: ok if n == 0 else b"", close=False).start()
    set_endpoints(table, "default/hello-1", [raw.endpoint])
    try:
        async with running(table) as gateway, aiohttp.ClientSession() as session:
            for _ in range(3):
                assert (await get(session, gateway.port, "hello.default.localhost"))[::2] == (
                    200, "ok")
            assert gateway.pool.opened == 3  # each reuse failed once and was retried
    finally:
        await raw.stop()


async def test_hop_by_hop_response_headers_are_dropped(table: RoutingTable) -> None:
    answer = (b"HTTP/1.1 201 Made Up\r\nConnection: keep-alive, X-Internal\r\n"
              b"Keep-Alive: timeout=5\r\nX-Internal: secret\r\nX-Public: yes\r\n"
              b"Content-Length: 4\r\n\r\nmade")
    raw = await RawApp(lambda head, n: answer, close=False).start()
    set_endpoints(table, "default/hello-1", [raw.endpoint])
    try:
        async with running(table) as gateway:
            data = await exchange(gateway.port, b"GET / HTTP/1.1\r\n"
                                  b"Host: hello.default.localhost\r\n\r\n", until=b"made")
            assert gateway.pool.idle(raw.endpoint) == 1  # kept for the next request
    finally:
        await raw.stop()
    head = data.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 201 made up\r\n")
    assert b"x-public: yes" in head and b"content-length: 4" in head
    assert b"x-internal" not in head and b"keep-alive" not in head


async def test_an_answer_from_the_gateway_keeps_the_connection_alive(
        table: RoutingTable) -> None:
    async with running(table) as gateway:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        try:
            async with asyncio.timeout(5):
                # (with X-Forwarded-For, the request takes the general path)
                for host, extra, status in (("nope.default.localhost", "", b"404"),
                                            ("hello.default.localhost", "", b"200"),
                                            ("nope.default.localhost", "X-Forwarded-For: a\r\n",
                                             b"404"),
                                            ("hello.default.localhost", "", b"200")):
                    writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
                    head = await reader.readuntil(b"\r\n\r\n")
                    assert head.split(b" ")[1] == status
                    assert b"connection: close" not in head.lower()
                    length = head.lower().partition(b"content-length:")[2].split(b"\r\n")[0]
                    await reader.readexactly(int(length))
        finally:
            writer.close()
    assert gateway.stats.connections == 1


async def test_a_response_in_pieces_and_responses_longer_than_they_say(
        table: RoutingTable) -> None:
    answers = {
        b"/pieces": (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", b"01234", b"56789"),
        b"/extra": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",),
        b"/late-extra": (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", b"ab", b"cdEXTRA"),
    }

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(10):
                head = await reader.readuntil(b"\r\n\r\n")
                for piece in answers[head.split(b" ")[1]]:
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.05)  # each piece in a read of its own
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    endpoint = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    set_endpoints(table, "default/hello-1", [endpoint])
    request = "GET {} HTTP/1.1\r\nHost: hello.default.localhost\r\n\r\n"
    try:
        async with running(table) as gateway:
            data = await exchange(gateway.port, request.format("/pieces").encode(),
                                  until=b"56789")
            assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\n0123456789")
            assert gateway.pool.idle(endpoint) == 1  # kept for the next request
            # the bytes beyond the declared length are dropped with the connection
            data = await exchange(gateway.port, request.format("/extra").encode(),
                                  until=b"\r\n\r\nok")
            assert data.endswith(b"\r\n\r\nok")
            data = await exchange(gateway.port, request.format("/late-extra").encode(),
                                  until=b"abcd")
            assert data.endswith(b"\r\n\r\nabcd")
            data = await exchange(gateway.port, request.format("/pieces").encode(),
                                  until=b"56789")
            assert data.endswith(b"\r\n\r\n0123456789")
            assert gateway.pool.opened == 3  # /extra and /late-extra each spoiled one
    finally:
        server.close()
        await server.wait_closed()


async def test_expect_100_continue_is_passed_through(table: RoutingTable) -> None:
    async with running(table) as gateway:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        try:
            writer.write(b"POST /e HTTP/1.1\r\nHost: hello.default.localhost\r\n"
                         b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            async with asyncio.timeout(5):
                interim = await reader.readuntil(b"\r\n\r\n")
                assert interim.startswith(b"HTTP/1.1 100")
                writer.write(b"hello")
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().partition(b"content-length: ")[2].split(b"\r\n")[0])
                body = await reader.readexactly(length)
        finally:
            writer.close()
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["length"] == 5


async def test_malformed_request_is_400(table: RoutingTable) -> None:
    async with running(table) as gateway:
        data = await exchange(gateway.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400")


async def test_graceful_stop_drains_a_request_in_flight(table: RoutingTable,
                                                        apps: dict[str, App]) -> None:
    gateway = Gateway(table, "127.0.0.1", 0, activator=activator_for(table))
    await gateway.start()
    try:
        async with aiohttp.ClientSession() as session:
            idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", gateway.port)
            in_flight = asyncio.create_task(
                get(session, gateway.port, "hello.default.localhost", "/slow?delay=0.3"))
            await asyncio.wait_for(apps["hello-1"].started_slow.wait(), 5)
            await gateway.stop(timeout=5)
            assert await in_flight == (200, "", "slow hello-1\n")
            assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # idle: closed
            idle_writer.close()
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", gateway.port)
    finally:
        await gateway.stop(timeout=1)


async def test_stop_deadline_cuts_what_does_not_finish(table: RoutingTable,
                                                       apps: dict[str, App]) -> None:
    gateway = Gateway(table, "127.0.0.1", 0, activator=activator_for(table))
    await gateway.start()
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.create_task(
            get(session, gateway.port, "hello.default.localhost", "/slow?delay=5"))
        await asyncio.wait_for(apps["hello-1"].started_slow.wait(), 5)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await gateway.stop(timeout=0.2)
        assert loop.time() - began < 2
        with pytest.raises(aiohttp.ClientError):
            await in_flight
