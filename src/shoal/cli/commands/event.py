"""``shoal event send``: post one CloudEvent to a broker, a channel, a service or a URL.

``--to`` takes an http(s) URL or a sink as kn writes it (``broker:NAME``, ``channel:NAME``,
``ksvc:NAME``, ...); a sink is looked up through the API and the event goes to the object's
``status.address.url`` (``status.url`` for a Knative Service). The event is sent in binary
content mode (``ce-*`` headers) with the HTTP codec of the data plane, and checked by it
before it leaves. It gets a new UUID as ``id`` unless ``--id`` is given, and the current
time. ``--data`` is JSON (``application/json``) when it parses as JSON, else text
(``text/plain``); ``--data-file`` likewise, or ``application/octet-stream`` when the file
is not UTF-8; ``--content-type`` overrides either. The command prints the HTTP status, and
a reply event if the destination answered with one; any status outside 2xx exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.abc import ResolveResult

from shoal.api.catalog import default_catalog
from shoal.api.names import connect_host
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.errors import CliError
from shoal.cli.sinks import parse_sink
from shoal.client.rest import RestClient
from shoal.eventing import codec
from shoal.eventing.event import CloudEvent

DEFAULT_TIMEOUT = 30.0
RESERVED = frozenset(
    {"specversion", "id", "source", "type", "datacontenttype", "data", "data_base64"}
)


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "event", help="send CloudEvents", description="Send CloudEvents over HTTP."
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    send = verbs.add_parser(
        "send",
        parents=parents,
        help="send one event",
        description="Send one CloudEvent in binary mode and print the HTTP status.",
    )
    send.add_argument(
        "--to",
        required=True,
        metavar="DESTINATION",
        help="broker:NAME, channel:NAME, ksvc:NAME (any sink) or an http(s) URL",
    )
    send.add_argument("--type", required=True, dest="event_type", help="the event's type")
    send.add_argument("--source", required=True, help="the event's source (a URI reference)")
    send.add_argument("--id", dest="event_id", help="the event's id (default: a new UUID)")
    data = send.add_mutually_exclusive_group()
    data.add_argument("--data", help="the payload: JSON, or else text")
    data.add_argument("--data-file", metavar="FILE", help="read the payload from FILE ('-': stdin)")
    send.add_argument("--content-type", help="the payload's media type (datacontenttype)")
    send.add_argument(
        "--extension",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extension attribute, or subject/dataschema/time (repeatable)",
    )
    add_namespace_options(send)
    send.set_defaults(handler=api_command(run_send))


def parse_extensions(values: list[str]) -> dict[str, str]:
    """``--extension`` values as attributes; names as CloudEvents allows them."""
    out: dict[str, str] = {}
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise CliError(f"invalid value {text!r} for --extension: expected NAME=VALUE")
        if not (name.isascii() and name.isalnum() and name == name.lower()):
            raise CliError(
                f"invalid value {text!r} for --extension: an attribute name is lower-case "
                "letters and digits"
            )
        if name in RESERVED:
            raise CliError(f"invalid value {text!r} for --extension: {name!r} has its own flag")
        out[name] = value
    return out


def payload(
    data: str | None, data_file: bytes | None, content_type: str | None
) -> tuple[bytes | None, str | None]:
    """The data bytes and their content type, from ``--data`` or a file's bytes."""
    if data is None and data_file is None:
        return None, content_type
    raw = data.encode() if data is not None else data_file or b""
    if content_type:
        return raw, content_type
    try:
        json.loads(raw)
        return raw, "application/json"
    except (ValueError, UnicodeDecodeError):
        pass
    try:
        raw.decode()
    except UnicodeDecodeError:
        return raw, "application/octet-stream"
    return raw, "text/plain"


def rfc3339(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_event(
    *,
    event_type: str,
    source: str,
    event_id: str,
    now: datetime,
    data: bytes | None = None,
    content_type: str | None = None,
    extensions: dict[str, str] | None = None,
) -> CloudEvent:
    """The event to send; checked with the data plane's codec (CliError when invalid)."""
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type,
        "time": rfc3339(now),
    }
    if content_type:
        attributes["datacontenttype"] = content_type
    attributes.update(extensions or {})
    event = CloudEvent(attributes, data)
    headers, body = codec.to_binary(event)
    try:
        codec.parse_request(headers, body)
    except codec.InvalidEvent as exc:
        raise CliError(f"invalid event: {exc}") from None
    return event


async def resolve_target(client: RestClient, to: str, ns: str) -> str:
    """The URL events for ``--to`` go to: itself, or the address of the object it names."""
    dest = parse_sink(to, ns, "--to")
    if "uri" in dest:
        return str(dest["uri"])
    ref = dest["ref"]
    rt = default_catalog().by_kind(ref["apiVersion"], ref["kind"])
    if rt is None:
        raise CliError(f"invalid value {to!r} for --to: Shoal does not serve {ref['kind']}")
    obj = await client.get(rt, ref["name"], ref["namespace"])
    status = obj.get("status") or {}
    url = (status.get("address") or {}).get("url") or status.get("url")
    if not url:
        raise CliError(
            f"{rt.kind} '{ref['name']}' in namespace '{ref['namespace']}' has no address "
            "yet (is it ready?)"
        )
    return str(url)


class LoopbackResolver(aiohttp.ThreadedResolver):
    """Names under ``localhost`` (Shoal's addresses) resolve to the loopback address."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if connect_host(host) != host:
            return [{"hostname": host, "host": "127.0.0.1", "port": port,
                     "family": socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}]
        return await super().resolve(host, port, family)


async def post(url: str, event: CloudEvent, timeout: float) -> tuple[int, str, Any, bytes]:
    """POST ``event`` in binary mode: status, reason, response headers and body."""
    headers, body = codec.to_binary(event)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout),
                                  connector=aiohttp.TCPConnector(
                                      resolver=LoopbackResolver())) as session,
            session.post(url, data=body, headers=headers) as resp,
        ):
            answer = await resp.read()
            return resp.status, resp.reason or "", resp.headers, answer
    except (aiohttp.ClientError, TimeoutError) as exc:
        why = str(exc) or type(exc).__name__
        raise CliError(f"cannot send the event to {url}: {why}") from None


async def run_send(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    file_data: bytes | None = None
    if args.data_file == "-":
        file_data = await asyncio.to_thread(sys.stdin.buffer.read)
    elif args.data_file is not None:
        try:
            file_data = await asyncio.to_thread(Path(args.data_file).read_bytes)
        except OSError as exc:
            raise CliError(f"cannot read --data-file {args.data_file!r}: {exc.strerror}") from None
    data, content_type = payload(args.data, file_data, args.content_type)
    event = build_event(
        event_type=args.event_type,
        source=args.source,
        event_id=args.event_id or str(uuid.uuid4()),
        now=datetime.now(UTC),
        data=data,
        content_type=content_type,
        extensions=parse_extensions(args.extension),
    )
    url = await resolve_target(client, args.to, ns)
    timeout = getattr(args, "request_timeout", None) or DEFAULT_TIMEOUT
    status, reason, headers, body = await post(url, event, timeout)
    print(f"Event '{event.id}' sent to {url}: {status} {reason}".rstrip())
    if not 200 <= status < 300:
        detail = body.decode(errors="replace").strip()
        print(
            f"error: {url} answered {status} {reason}" + (f": {detail}" if detail else ""),
            file=sys.stderr,
        )
        return 1
    try:
        reply = codec.parse_response(status, headers, body)
    except codec.InvalidEvent as exc:
        print(f"Warning: the reply is not a valid CloudEvent: {exc}", file=sys.stderr)
        return 0
    if reply is not None:
        print("Reply:")
        print(json.dumps(reply.to_json(), indent=2, ensure_ascii=False))
    return 0
