"""``shoal logs NAME [-f] [--revision R]``: what the instances of a service's revision print.

Logs belong to the runtime that runs a revision's instances (local processes, containers);
the API server serves them as plain text at ``GET {server}/logs/{namespace}/{revision}``
(``?follow=true`` keeps the answer open and streams new lines). ``fetch_logs`` reads that
endpoint and hands each chunk to its caller as it arrives.

A server with no runtimes plugged in (an API server on its own) answers that path with a
bare 404 (a ``Status`` with no ``details``, its answer for any path it does not serve), and
the command says that logs come with the runtimes and exits 1. A 404 that names an object
(``details``) is an answer of the real endpoint, and is reported as the API error it is.

The revision is ``--revision``, else the Service's latest ready revision, else its latest
created one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from urllib.parse import quote

import aiohttp

from shoal.api.catalog import default_catalog
from shoal.api.errors import ApiError
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.errors import CliError
from shoal.client.rest import RestClient, ServerUnreachable

SERVICES = default_catalog().require("ksvc")
REVISIONS = default_catalog().require("revisions")
_MISSING_ENDPOINT = (404, 405, 501)


class LogsUnavailable(CliError):
    """The API server has no log endpoint (yet)."""


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "logs",
        parents=parents,
        help="print the logs of a service's instances",
        description="Print what the instances of a service's latest revision (or of "
        "--revision) write to stdout and stderr.",
    )
    parser.add_argument("name", metavar="NAME", help="the service")
    parser.add_argument("--revision", metavar="REVISION", help="this revision of the service")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines as they come"
    )
    add_namespace_options(parser)
    parser.set_defaults(handler=api_command(run))


def logs_path(namespace: str, revision: str) -> str:
    return f"/logs/{quote(namespace, safe='')}/{quote(revision, safe='')}"


def _answer_error(status: int, raw: bytes, server: str) -> Exception:
    """The error of a failed answer: ``LogsUnavailable`` when the endpoint is missing."""
    try:
        body = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    status_body = body if isinstance(body, dict) and body.get("kind") == "Status" else None
    if status in _MISSING_ENDPOINT and not (status_body and status_body.get("details")):
        return LogsUnavailable(
            f"the API server at {server} does not serve logs yet: logs come with the "
            "runtimes that run a revision's instances"
        )
    if status_body is not None:
        return ApiError.from_status(status_body, status)
    text = raw.decode(errors="replace").strip() or f"HTTP {status}"
    return ApiError.from_status({"message": text, "code": status}, status)


async def fetch_logs(
    server: str,
    token: str | None,
    namespace: str,
    revision: str,
    write: Callable[[bytes], None],
    *,
    follow: bool = False,
    timeout: float = 60.0,
) -> None:
    """Read ``GET {server}/logs/{namespace}/{revision}`` and ``write`` each chunk.

    With ``follow`` the answer has no deadline (it ends when the server ends it or the
    caller is interrupted); ``timeout`` bounds connecting, and without ``follow`` the whole.
    """
    headers = {"User-Agent": "shoal", "Accept": "text/plain"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    params = {"follow": "true"} if follow else {}
    limit = aiohttp.ClientTimeout(total=None if follow else timeout, sock_connect=timeout)
    url = server.rstrip("/") + logs_path(namespace, revision)
    try:
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.get(url, params=params, timeout=limit) as resp,
        ):
            if resp.status >= 300:
                raise _answer_error(resp.status, await resp.read(), server)
            async for chunk in resp.content.iter_any():
                write(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ServerUnreachable(
            f"error reading logs from {server}: {str(exc) or type(exc).__name__}"
        ) from None


async def revision_of(client: RestClient, name: str, ns: str, revision: str | None) -> str:
    """The revision whose logs to print: the one given, else the Service's latest."""
    if revision:
        await client.get(REVISIONS, revision, ns)  # NotFound names it
        return revision
    status = (await client.get(SERVICES, name, ns)).get("status") or {}
    latest = status.get("latestReadyRevisionName") or status.get("latestCreatedRevisionName")
    if not latest:
        raise CliError(f"service '{name}' in namespace '{ns}' has no revision yet")
    return str(latest)


def _write(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


async def run(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    revision = await revision_of(client, args.name, ns, args.revision)
    sys.stdout.flush()
    await fetch_logs(
        client.server,
        client.token,
        ns,
        revision,
        _write,
        follow=args.follow,
        timeout=client.request_timeout,
    )
    return 0
