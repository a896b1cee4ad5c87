"""``shoal up``: run Shoal on this machine — the API server and the controllers, in one process.

The wiring lives here and only here: open the store in the data directory, create the
system namespaces and Knative's ConfigMaps on first start, serve the API, write
``server.json`` and a kubeconfig for clients, run the controllers, and on SIGINT/SIGTERM
stop in a fixed order (controllers, the sources, the serving and eventing planes, the API
server, the store).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.apiserver.registry import Registry
from shoal.apiserver.server import ApiServer
from shoal.cli import process
from shoal.cli.config import default_data_dir, kubeconfig_yaml, write_server_file
from shoal.cli.dispatcher import DispatcherProcess
from shoal.client.inprocess import InProcessClient
from shoal.controllers.eventing.broker import BrokerReconciler, Prepare
from shoal.controllers.eventing.channel import channel_reconcilers
from shoal.controllers.eventing.eventtype import EventTypeReconciler
from shoal.controllers.eventing.trigger import TriggerReconciler
from shoal.controllers.manager import Manager
from shoal.controllers.reconciler import Reconciler
from shoal.controllers.resolver import DestinationResolver, tracked_resolver
from shoal.eventing.plane import EventingPlane
from shoal.runtime.logsource import RuntimeLogs
from shoal.serving.plane import ServingPlane
from shoal.sources import SourcesPlane
from shoal.store import Store

log = logging.getLogger("shoal")

DEFAULT_API_PORT = 8090
DEFAULT_GATEWAY_PORT = 8080
DEFAULT_EVENTING_PORT = 8081
DEFAULT_METRICS_PORT = 9090


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", dest="up_data_dir", default=None,
                        help="where state is kept (default: $SHOAL_DATA_DIR or ~/.shoal)")
    parser.add_argument("--api-host", default="127.0.0.1",
                        help="address of the API server (default 127.0.0.1; any other "
                             "address requires the bearer token)")
    parser.add_argument("--api-port", type=int, default=DEFAULT_API_PORT,
                        help=f"port of the API server (default {DEFAULT_API_PORT}; 0 picks "
                             f"a free one)")
    parser.add_argument("--gateway-port", type=int, default=DEFAULT_GATEWAY_PORT,
                        help=f"port of the serving gateway (default {DEFAULT_GATEWAY_PORT})")
    parser.add_argument("--eventing-port", type=int, default=DEFAULT_EVENTING_PORT,
                        help=f"port of the broker ingress (default {DEFAULT_EVENTING_PORT}; "
                             f"0 picks a free one)")
    parser.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT,
                        help=f"port of the Prometheus /metrics endpoint (default "
                             f"{DEFAULT_METRICS_PORT}; 0 picks a free one; -1 turns it off)")
    parser.add_argument("--autoscaler-tick", type=float, default=2.0,
                        help="seconds between the autoscaler's decisions (default 2, as "
                             "Knative)")
    parser.add_argument("--event-retention", type=float, default=3600.0,
                        help="seconds a delivered event is kept in a broker's log "
                             "(default 3600)")
    parser.add_argument("--event-dispatch", choices=["process", "inline"], default="process",
                        help="where the durable log's events are delivered from: a "
                             "dispatcher process of its own (default), or this process")
    parser.add_argument("--image-pull", choices=["never", "missing", "always"], default=None,
                        help="pull images for container revisions: never, when missing, "
                             "always (default: each container's imagePullPolicy)")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    parser.add_argument("--changelog-retention", type=int, default=100_000,
                        help="changes kept for watches to resume from (default 100000)")


def reconcilers(client: InProcessClient, manager: Manager, ingress: str,
                prepare: Prepare | None = None) -> list[Reconciler[Any]]:
    """Every reconciler ``shoal up`` runs; ``prepare`` readies a broker's storage."""
    catalog = default_catalog()
    trigger_tracker, trigger_resolver = tracked_resolver(client, catalog, manager.clock)
    return [
        BrokerReconciler(ingress, DestinationResolver(client, catalog), prepare),
        TriggerReconciler(client, trigger_resolver, trigger_tracker),
        EventTypeReconciler(client),
        *channel_reconcilers(client, ingress, manager.clock),
    ]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token(data_dir: Path) -> str:
    path = data_dir / "token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    given = args.up_data_dir or getattr(args, "data_dir", None)
    data_dir = Path(given).expanduser() if given else default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / "lock", "w")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"error: another shoal is running on {data_dir}", file=sys.stderr)
        return 1
    try:
        return process.run(_serve(args, data_dir))
    finally:
        lock.close()


async def _serve(args: argparse.Namespace, data_dir: Path) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    store = Store(data_dir / "shoal.db", retention=args.changelog_retention)
    registry = Registry(store, default_catalog())
    registry.bootstrap()
    token = _token(data_dir)
    server = ApiServer(registry, args.api_host, args.api_port,
                       token=None if _is_loopback(args.api_host) else token)
    try:
        await server.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.api_host}:{args.api_port}: {exc.strerror}",
              file=sys.stderr)
        store.close()
        return 1
    write_server_file(data_dir, server.url, token)
    kubeconfig = data_dir / "kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(server.url, token))
    kubeconfig.chmod(0o600)

    client = InProcessClient(registry)
    manager = Manager(client, component="shoal-controller")
    plane = EventingPlane(client, manager.informers, data_dir, host=args.api_host
                          if _is_loopback(args.api_host) else "127.0.0.1",
                          port=args.eventing_port, retention=args.event_retention,
                          durable_dispatch=args.event_dispatch == "inline")
    try:
        await plane.start()
    except OSError as exc:
        print(f"error: cannot listen on port {args.eventing_port}: {exc.strerror}",
              file=sys.stderr)
        await server.stop()
        store.close()
        return 1
    dispatcher = None
    if not plane.durable_dispatch:
        dispatcher = DispatcherProcess(plane, server.url, data_dir, log_level=args.log_level)
        dispatcher.start()
    for reconciler in reconcilers(client, manager, plane.url, plane.prepare):
        manager.add(reconciler)
    serving = ServingPlane(client, data_dir, lambda: registry.config,
                           host="127.0.0.1", port=args.gateway_port,
                           metrics_port=args.metrics_port if args.metrics_port >= 0 else None,
                           image_pull=args.image_pull, tick=args.autoscaler_tick)
    try:
        await serving.start()
    except OSError as exc:
        print(f"error: cannot listen on port {args.gateway_port} or "
              f"{args.metrics_port}: {exc.strerror}", file=sys.stderr)
        if dispatcher is not None:
            await dispatcher.stop()
        await plane.stop()
        await server.stop()
        store.close()
        return 1
    serving.add_reconcilers(manager)
    sources = SourcesPlane(client, server.url, serving)
    sources.add_reconcilers(manager)
    server.logs.register(RuntimeLogs(serving.runtimes))
    await manager.start()
    process.settle_gc()
    print(f"Shoal is up. API server: {server.url}  (data: {data_dir})", flush=True)
    print(f"  services: http://<name>.<namespace>.{registry.config.domain}:{serving.port}/"
          f"  (runtimes: {', '.join(serving.runtimes)})", flush=True)
    print(f"  broker ingress: {plane.url}/<namespace>/<broker>", flush=True)
    if serving.metrics is not None:
        print(f"  metrics: http://127.0.0.1:{serving.metrics.port}/metrics", flush=True)
    print(f"  kubectl --server {server.url} get ksvc", flush=True)
    print(f"  export KUBECONFIG={kubeconfig}   # or: shoal kubeconfig > ~/.kube/shoal",
          flush=True)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await manager.stop()
        await sources.stop()
        await serving.stop()
        if dispatcher is not None:
            await dispatcher.stop()
        await plane.stop()
        await server.stop()
        with contextlib.suppress(FileNotFoundError):
            (data_dir / "server.json").unlink()
        store.close()
    return 0
