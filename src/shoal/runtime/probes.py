"""Readiness and liveness probes: Kubernetes' probe JSON, and one check of each kind.

``parse_probe`` reads a container's ``readinessProbe``/``livenessProbe`` with Kubernetes'
defaults (a readiness probe that is not given is a TCP probe on the serving port, as
Knative's). ``Prober`` runs one check against an instance: ``tcpSocket`` and ``httpGet``
connect to the instance's loopback address (a probe always targets the serving port, as
Knative's validation requires), ``exec`` goes through the runtime's own way of running a
command in the instance; ``RUNNING``, the readiness of a program that serves nothing (a
source's adapter), passes while it runs. The supervisor decides when to probe and what a
result means.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

ProbeKind = Literal["tcp", "http", "exec", "running"]

# Runs argv in the instance with a timeout; returns the exit code and the output.
ExecFunc = Callable[[list[str], float], Awaitable[tuple[int, str]]]

USER_AGENT = "kube-probe/shoal"


@dataclass(frozen=True)
class Probe:
    kind: ProbeKind
    path: str = "/"
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


DEFAULT_READINESS = Probe("tcp")
RUNNING = Probe("running")  # for a program that serves nothing: ready while it runs


def parse_probe(obj: Mapping[str, Any] | None) -> Probe | None:
    """The probe described by Kubernetes JSON; ``None`` when absent or of no known kind."""
    if not obj:
        return None
    timing: dict[str, Any] = {
        "initial_delay": float(obj.get("initialDelaySeconds") or 0),
        "period": float(obj.get("periodSeconds") or 10),
        "timeout": float(obj.get("timeoutSeconds") or 1),
        "success_threshold": int(obj.get("successThreshold") or 1),
        "failure_threshold": int(obj.get("failureThreshold") or 3),
    }
    if "httpGet" in obj:
        http = obj["httpGet"] or {}
        headers = tuple((str(h["name"]), str(h.get("value", "")))
                        for h in http.get("httpHeaders") or [] if h.get("name"))
        path = str(http.get("path") or "/")
        if not path.startswith("/"):
            path = "/" + path
        return Probe("http", path=path, scheme=str(http.get("scheme") or "HTTP").upper(),
                     headers=headers, **timing)
    if "exec" in obj:
        command = tuple(str(part) for part in (obj["exec"] or {}).get("command") or [])
        return Probe("exec", command=command, **timing)
    if "tcpSocket" in obj:
        return Probe("tcp", **timing)
    return None


def readiness_probe(container: Mapping[str, Any], serves: bool = True) -> Probe:
    """The container's readiness probe; ``RUNNING`` for a program that serves nothing."""
    if not serves:
        return RUNNING
    return parse_probe(container.get("readinessProbe")) or DEFAULT_READINESS


def liveness_probe(container: Mapping[str, Any]) -> Probe | None:
    return parse_probe(container.get("livenessProbe"))


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    message: str = ""


class Prober:
    """Checks one instance at ``host:port``; ``run_exec`` runs exec probes inside it."""

    def __init__(self, host: str, port: int, run_exec: ExecFunc) -> None:
        self.host = host
        self.port = port
        self._run_exec = run_exec

    async def check(self, probe: Probe) -> ProbeResult:
        if probe.kind == "running":
            return ProbeResult(True)
        try:
            if probe.kind == "exec":
                return await self._exec(probe)
            async with asyncio.timeout(probe.timeout):
                if probe.kind == "http":
                    return await self._http(probe)
                return await self._tcp()
        except TimeoutError:
            return ProbeResult(False, f"probe timed out after {probe.timeout:g}s")
        except (OSError, ValueError) as err:
            return ProbeResult(False, f"dial tcp {self.host}:{self.port}: {err}")

    async def _tcp(self) -> ProbeResult:
        _, writer = await asyncio.open_connection(self.host, self.port)
        await _close(writer)
        return ProbeResult(True)

    async def _http(self, probe: Probe) -> ProbeResult:
        context: ssl.SSLContext | None = None
        if probe.scheme == "HTTPS":  # as the kubelet, skip verification
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=context)
        try:
            headers = {"Host": f"{self.host}:{self.port}", "User-Agent": USER_AGENT,
                       "Accept": "*/*", "Connection": "close"}
            for name, value in probe.headers:
                headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
                headers[name] = value
            request = f"GET {probe.path} HTTP/1.1\r\n" + "".join(
                f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
            writer.write(request.encode("latin-1"))
            await writer.drain()
            status_line = await reader.readuntil(b"\r\n")  # the status is all we need
        except asyncio.IncompleteReadError as err:
            return ProbeResult(False, f"HTTP probe failed: connection closed ({err.partial!r})")
        except asyncio.LimitOverrunError:
            return ProbeResult(False, "HTTP probe failed: status line too long")
        finally:
            await _close(writer)
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return ProbeResult(False, f"HTTP probe failed: malformed response {status_line!r}")
        status = int(parts[1])
        if 200 <= status < 400:
            return ProbeResult(True)
        return ProbeResult(False, f"HTTP probe failed with statuscode: {status}")

    async def _exec(self, probe: Probe) -> ProbeResult:
        if not probe.command:
            return ProbeResult(False, "exec probe has no command")
        code, output = await self._run_exec(list(probe.command), probe.timeout)
        if code == 0:
            return ProbeResult(True)
        detail = output.strip()[-500:]
        return ProbeResult(False, f"command {list(probe.command)} exited with {code}"
                                  + (f": {detail}" if detail else ""))


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
