"""``shoal channel create|list|describe|delete``: kn's channel verbs.

A Channel is backed by a channel of a concrete kind, named by ``spec.channelTemplate``;
``--type`` picks it as kn does: ``imc`` (or any other name of the kind, such as
``inmemorychannel``) for ``messaging.knative.dev/v1`` InMemoryChannel, or
``GROUP:VERSION:KIND`` in full. Without ``--type`` the server picks the namespace's default
from ``default-ch-webhook``. Messages are kn's (``Channel 'pipe' created in namespace
'default'.``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.cli.commands.broker import print_document, status_cells, table_lines
from shoal.cli.commands.describe import events_of
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.describer import age_of, conditions, event_lines, fields, header
from shoal.cli.errors import CliError
from shoal.cli.printers import as_list, typed
from shoal.cli.sinks import delivery_view
from shoal.client.base import Obj
from shoal.client.rest import RestClient

CHANNELS = default_catalog().require("channels")
CHANNEL_KINDS = frozenset({"InMemoryChannel"})
OUTPUTS = ("yaml", "json")


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "channel",
        help="manage channels (create, list, describe, delete)",
        description="Manage channels: event forwarding to every subscription, in order.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser("create", parents=parents, help="create a channel")
    create.add_argument("name", metavar="NAME")
    create.add_argument(
        "--type",
        metavar="TYPE",
        help="the kind of channel behind it: imc (InMemoryChannel) or GROUP:VERSION:KIND; "
        "default from default-ch-webhook",
    )
    add_namespace_options(create)
    create.set_defaults(handler=api_command(run_create))

    listing = verbs.add_parser("list", aliases=["ls"], parents=parents, help="list channels")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(run_list))

    describe = verbs.add_parser("describe", parents=parents, help="show a channel")
    describe.add_argument("name", metavar="NAME")
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.set_defaults(handler=api_command(run_describe))

    delete = verbs.add_parser("delete", parents=parents, help="delete a channel")
    delete.add_argument("name", metavar="NAME")
    add_namespace_options(delete)
    delete.set_defaults(handler=api_command(run_delete))


def channel_template(text: str) -> Obj:
    """``--type`` as a channel template (apiVersion and kind)."""
    parts = text.split(":")
    if len(parts) == 3 and all(parts[1:]):
        group, version, kind = parts
        return {"apiVersion": f"{group}/{version}" if group else version, "kind": kind}
    rt = default_catalog().resolve(text) if len(parts) == 1 else None
    if rt is None or rt.kind not in CHANNEL_KINDS:
        raise CliError(
            f"invalid value {text!r} for --type: use imc (InMemoryChannel) or GROUP:VERSION:KIND"
        )
    return {"apiVersion": rt.api_version, "kind": rt.kind}


def build_channel(args: argparse.Namespace, ns: str) -> Obj:
    """The Channel that ``channel create`` sends for these flags."""
    spec: Obj = {}
    if args.type:
        spec["channelTemplate"] = channel_template(args.type)
    return {
        "apiVersion": CHANNELS.api_version,
        "kind": CHANNELS.kind,
        "metadata": {"name": args.name, "namespace": ns},
        "spec": spec,
    }


def channel_type(channel: Obj) -> str:
    return str(((channel.get("spec") or {}).get("channelTemplate") or {}).get("kind") or "")


def channel_url(channel: Obj) -> str:
    return str(((channel.get("status") or {}).get("address") or {}).get("url") or "")


async def run_create(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.create(CHANNELS, build_channel(args, ns))
    print(f"Channel '{args.name}' created in namespace '{ns}'.")
    return 0


def list_lines(channels: list[Obj], now: datetime, all_namespaces: bool) -> list[str]:
    head = ["NAME", "TYPE", "URL", "AGE", "READY", "REASON"]
    rows = []
    for c in channels:
        age, _conditions, ready, reason = status_cells(c, now)
        rows.append([c["metadata"]["name"], channel_type(c), channel_url(c), age, ready, reason])
    return table_lines(head, rows, channels, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    ns = None if args.all_namespaces else namespace(args)
    channels = [typed(CHANNELS, c) for c in (await client.list(CHANNELS, ns)).items]
    if args.output:
        print_document(as_list(channels), args.output)
    elif not channels:
        print("No channels found.")
    else:
        print("\n".join(list_lines(channels, datetime.now(UTC), args.all_namespaces)))
    return 0


def describe_text(channel: Obj, events: list[Obj], now: datetime) -> str:
    """``channel describe``: type, address, subscribers, delivery, conditions, events."""
    meta = channel.get("metadata") or {}
    spec = channel.get("spec") or {}
    template = spec.get("channelTemplate") or {}
    summary: dict[str, Any] = {
        "age": age_of(meta.get("creationTimestamp"), now),
        "type": f"{template.get('kind', '')} ({template.get('apiVersion', '')})"
        if template
        else "<none>",
        "address": {"url": channel_url(channel) or "<none>"},
        "subscribers": [
            {k: v for k, v in s.items() if k in ("name", "subscriberUri", "replyUri")}
            for s in spec.get("subscribers") or []
            if isinstance(s, dict)
        ],
    }
    if spec.get("delivery"):
        summary["delivery"] = delivery_view(spec["delivery"], str(meta.get("namespace") or ""))
    status = channel.get("status") or {}
    lines = header(channel) + fields(summary, 0) + conditions(status, now)
    return "\n".join(lines + event_lines(events, now)) + "\n"


async def run_describe(args: argparse.Namespace, client: RestClient) -> int:
    channel = typed(CHANNELS, await client.get(CHANNELS, args.name, namespace(args)))
    if args.output:
        print_document(channel, args.output)
        return 0
    now = datetime.now(UTC)
    sys.stdout.write(describe_text(channel, await events_of(client, channel), now))
    return 0


async def run_delete(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.delete(CHANNELS, args.name, ns)
    print(f"Channel '{args.name}' deleted in namespace '{ns}'.")
    return 0
