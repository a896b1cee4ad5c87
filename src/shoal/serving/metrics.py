"""``/metrics``: the serving data plane's figures in Prometheus' text format.

Names follow Knative's where it has one: ``revision_request_count`` and
``revision_request_latencies`` (per revision and response code, as queue-proxy reports
them), ``autoscaler_desired_pods``, ``autoscaler_actual_pods``, ``autoscaler_panic_mode``,
``autoscaler_stable_request_concurrency``, ``autoscaler_panic_request_concurrency``,
``autoscaler_target_concurrency_per_pod``, ``autoscaler_excess_burst_capacity``, and the
activator's ``activator_request_concurrency`` and ``activator_queue_depth`` (requests held
waiting for an instance).
"""

from __future__ import annotations

import socket

from aiohttp import web

from shoal.serving.activator import LATENCY_BUCKETS, Activator
from shoal.serving.autoscaler import Autoscaler

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(key: str, **extra: str) -> str:
    namespace, _, name = key.partition("/")
    pairs = {"namespace_name": namespace, "revision_name": name, **extra}
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def render(activator: Activator, autoscaler: Autoscaler) -> str:
    """Every metric of every revision, as one exposition text."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    backends = sorted(activator.backends.items())
    family("revision_request_count", "counter", "Requests answered, by response code.")
    for key, backend in backends:
        for code, count in sorted(backend.stats.codes.items()):
            labels = _labels(key, response_code=str(code),
                             response_code_class=f"{code // 100}xx")
            lines.append(f"revision_request_count{labels} {count}")
    family("revision_request_latencies", "histogram", "Request latency in seconds.")
    for key, backend in backends:
        stats = backend.stats
        cumulative = 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), stats.latency, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else _number(bound)
            lines.append(f"revision_request_latencies_bucket{_labels(key, le=le)} {cumulative}")
        lines.append(f"revision_request_latencies_sum{_labels(key)} {stats.latency_sum:.6f}")
        lines.append(f"revision_request_latencies_count{_labels(key)} {cumulative}")
    family("activator_request_concurrency", "gauge",
           "Requests in flight, held or forwarded.")
    for key, backend in backends:
        lines.append(f"activator_request_concurrency{_labels(key)} {backend.stats.inflight}")
    family("activator_queue_depth", "gauge", "Requests held waiting for an instance.")
    for key, backend in backends:
        lines.append(f"activator_queue_depth{_labels(key)} {backend.held}")

    states = sorted(autoscaler.revisions.items())
    now = autoscaler.clock()
    gauges = (
        ("autoscaler_desired_pods", "Instances the autoscaler wants.",
         lambda s: s.want),
        ("autoscaler_requested_pods", "Instances asked of the runtime.", lambda s: s.scale),
        ("autoscaler_actual_pods", "Instances ready.", lambda s: s.ready),
        ("autoscaler_panic_mode", "1 while the revision is in panic mode.",
         lambda s: 1 if s.decider.panicking else 0),
        ("autoscaler_stable_request_concurrency", "Average over the stable window.",
         lambda s: s.stable.average(now)),
        ("autoscaler_panic_request_concurrency", "Average over the panic window.",
         lambda s: s.panic.average(now)),
        ("autoscaler_target_concurrency_per_pod", "The per-instance target.",
         lambda s: s.spec.target),
        ("autoscaler_excess_burst_capacity", "Spare capacity beyond the burst target.",
         lambda s: s.excess),
    )
    for name, help_text, read in gauges:
        family(name, "gauge", help_text)
        for key, state in states:
            lines.append(f"{name}{_labels(key)} {_number(float(read(state)))}")
    return "\n".join(lines) + "\n"


class MetricsServer:
    """``GET /metrics`` on its own loopback port (``port`` 0: a free one)."""

    def __init__(self, activator: Activator, autoscaler: Autoscaler, host: str,
                 port: int) -> None:
        self.activator = activator
        self.autoscaler = autoscaler
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            await self._runner.cleanup()
            raise
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=render(self.activator, self.autoscaler),
                            headers={"Content-Type": CONTENT_TYPE})
