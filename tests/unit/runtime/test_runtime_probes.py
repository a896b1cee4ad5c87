"""Probe JSON with Kubernetes' defaults, and one check of each kind against loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from shoal.runtime.probes import (
    DEFAULT_READINESS,
    Probe,
    Prober,
    liveness_probe,
    parse_probe,
    readiness_probe,
)


async def no_exec(argv: list[str], timeout: float) -> tuple[int, str]:
    raise AssertionError("no exec expected")


def test_defaults() -> None:
    assert readiness_probe({}) == DEFAULT_READINESS == Probe("tcp")
    assert liveness_probe({}) is None
    probe = parse_probe({"tcpSocket": {"port": 8080}})
    assert probe == Probe("tcp", period=10.0, timeout=1.0, success_threshold=1,
                          failure_threshold=3)


def test_http_and_exec_fields() -> None:
    probe = parse_probe({"httpGet": {"path": "healthz", "scheme": "https",
                                     "httpHeaders": [{"name": "X-A", "value": "1"}]},
                         "initialDelaySeconds": 2, "periodSeconds": 3, "timeoutSeconds": 4,
                         "successThreshold": 2, "failureThreshold": 5})
    assert probe == Probe("http", path="/healthz", scheme="HTTPS", headers=(("X-A", "1"),),
                          initial_delay=2.0, period=3.0, timeout=4.0, success_threshold=2,
                          failure_threshold=5)
    assert parse_probe({"exec": {"command": ["cat", "/tmp/ready"]}}) == Probe(
        "exec", command=("cat", "/tmp/ready"))
    assert parse_probe({"grpc": {"port": 1}}) is None


@pytest.fixture
async def http_server() -> AsyncIterator[tuple[int, list[bytes], list[int]]]:
    """A loopback server that records requests and answers with the next queued status."""
    requests: list[bytes] = []
    statuses: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        status = statuses.pop(0) if statuses else 200
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, requests, statuses
    finally:
        server.close()
        await server.wait_closed()


async def test_http_probe(http_server: tuple[int, list[bytes], list[int]]) -> None:
    port, requests, statuses = http_server
    prober = Prober("127.0.0.1", port, no_exec)
    probe = Probe("http", path="/ready?x=1", headers=(("X-Probe", "yes"), ("host", "h")))
    assert (await prober.check(probe)).ok
    head = requests[0].decode()
    assert head.startswith("GET /ready?x=1 HTTP/1.1\r\n")
    assert "X-Probe: yes\r\n" in head
    assert "host: h\r\n" in head and "Host: 127.0.0.1" not in head
    assert "User-Agent: kube-probe/" in head
    statuses.append(503)
    result = await prober.check(probe)
    assert not result.ok
    assert result.message == "HTTP probe failed with statuscode: 503"
    statuses.append(302)
    assert (await prober.check(probe)).ok


async def test_tcp_probe(http_server: tuple[int, list[bytes], list[int]]) -> None:
    port, _, _ = http_server
    assert (await Prober("127.0.0.1", port, no_exec).check(Probe("tcp"))).ok


async def test_refused_connection() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        result = await Prober("127.0.0.1", port, no_exec).check(Probe("tcp"))
    assert not result.ok
    assert f"dial tcp 127.0.0.1:{port}" in result.message


async def test_http_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; ends when the prober hangs up
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        result = await Prober("127.0.0.1", port, no_exec).check(
            Probe("http", timeout=0.1))
    finally:
        server.close()
        await server.wait_closed()
    assert result == type(result)(False, "probe timed out after 0.1s")


async def test_exec_probe() -> None:
    calls: list[tuple[list[str], float]] = []

    async def run(argv: list[str], timeout: float) -> tuple[int, str]:
        calls.append((argv, timeout))
        return (0, "") if argv[-1] == "ok" else (2, "not yet\n")

    prober = Prober("127.0.0.1", 1, run)
    assert (await prober.check(Probe("exec", command=("check", "ok"), timeout=3.0))).ok
    failed = await prober.check(Probe("exec", command=("check", "no")))
    assert not failed.ok
    assert failed.message == "command ['check', 'no'] exited with 2: not yet"
    assert calls[0] == (["check", "ok"], 3.0)
