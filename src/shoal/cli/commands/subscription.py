"""``shoal subscription create|update|list|describe|delete``: kn's subscription verbs.

A Subscription sends the events of a channel to a subscriber (``--sink``), the subscriber's
replies on to ``--sink-reply``, and what cannot be delivered to ``--sink-dead-letter``
(``spec.delivery.deadLetterSink``). ``--channel`` is read as kn reads it: ``NAME`` for a
``messaging.knative.dev/v1`` Channel, ``imc:NAME`` (or another name of a channel kind) for
that kind, or ``GROUP:VERSION:KIND:NAME`` in full. ``update`` changes the subscriber and the
reply; the channel and the delivery options cannot change after creation. Messages are
kn's (``Subscription 's' created in namespace 'default'.``).
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
from shoal.cli.sinks import delivery_view, parse_sink, sink_text
from shoal.client.base import Obj
from shoal.client.rest import RestClient

SUBSCRIPTIONS = default_catalog().require("subscriptions")
CHANNELS = default_catalog().require("channels")
CHANNEL_KINDS = frozenset({"Channel", "InMemoryChannel"})
OUTPUTS = ("yaml", "json")


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "subscription",
        help="manage subscriptions (create, update, list, describe, delete)",
        description="Manage subscriptions: routes from a channel to a subscriber and on.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser("create", parents=parents, help="create a subscription")
    create.add_argument("name", metavar="NAME")
    create.add_argument(
        "--channel",
        required=True,
        metavar="CHANNEL",
        help="the channel to subscribe to: NAME (a Channel), imc:NAME or GROUP:VERSION:KIND:NAME",
    )
    _add_sink_options(create)
    create.add_argument(
        "--sink-dead-letter",
        metavar="SINK",
        help="where events go that could not be delivered (a sink, as --sink)",
    )
    add_namespace_options(create)
    create.set_defaults(handler=api_command(run_create))

    update = verbs.add_parser("update", parents=parents, help="update a subscription")
    update.add_argument("name", metavar="NAME")
    _add_sink_options(update)
    add_namespace_options(update)
    update.set_defaults(handler=api_command(run_update))

    listing = verbs.add_parser("list", aliases=["ls"], parents=parents, help="list subscriptions")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(run_list))

    describe = verbs.add_parser("describe", parents=parents, help="show a subscription")
    describe.add_argument("name", metavar="NAME")
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.set_defaults(handler=api_command(run_describe))

    delete = verbs.add_parser("delete", parents=parents, help="delete a subscription")
    delete.add_argument("name", metavar="NAME")
    add_namespace_options(delete)
    delete.set_defaults(handler=api_command(run_delete))


def _add_sink_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sink",
        metavar="SINK",
        help="the subscriber: ksvc:NAME, broker:NAME, channel:NAME, NAME (a Knative "
        "Service) or an http(s) URL",
    )
    parser.add_argument(
        "--sink-reply", metavar="SINK", help="where the subscriber's replies go (a sink)"
    )


def channel_ref(text: str) -> Obj:
    """``--channel`` as the reference ``spec.channel`` holds (no namespace: it is the
    subscription's own)."""
    parts = text.split(":")
    if len(parts) == 1 and parts[0]:
        return {"apiVersion": CHANNELS.api_version, "kind": CHANNELS.kind, "name": parts[0]}
    if len(parts) == 2 and all(parts):
        rt = default_catalog().resolve(parts[0])
        if rt is not None and rt.kind in CHANNEL_KINDS:
            return {"apiVersion": rt.api_version, "kind": rt.kind, "name": parts[1]}
    if len(parts) == 4 and all(parts[1:]):
        group, version, kind, name = parts
        return {
            "apiVersion": f"{group}/{version}" if group else version,
            "kind": kind,
            "name": name,
        }
    raise CliError(
        f"invalid value {text!r} for --channel: use NAME, imc:NAME or GROUP:VERSION:KIND:NAME"
    )


def build_subscription(args: argparse.Namespace, ns: str) -> Obj:
    """The Subscription that ``subscription create`` sends for these flags."""
    spec: Obj = {"channel": channel_ref(args.channel)}
    if args.sink:
        spec["subscriber"] = parse_sink(args.sink, ns, "--sink")
    if args.sink_reply:
        spec["reply"] = parse_sink(args.sink_reply, ns, "--sink-reply")
    if args.sink_dead_letter:
        spec["delivery"] = {
            "deadLetterSink": parse_sink(args.sink_dead_letter, ns, "--sink-dead-letter")
        }
    return {
        "apiVersion": SUBSCRIPTIONS.api_version,
        "kind": SUBSCRIPTIONS.kind,
        "metadata": {"name": args.name, "namespace": ns},
        "spec": spec,
    }


async def run_create(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.create(SUBSCRIPTIONS, build_subscription(args, ns))
    print(f"Subscription '{args.name}' created in namespace '{ns}'.")
    return 0


async def run_update(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    changes: Obj = {}
    if args.sink:
        changes["subscriber"] = parse_sink(args.sink, ns, "--sink")
    if args.sink_reply:
        changes["reply"] = parse_sink(args.sink_reply, ns, "--sink-reply")
    if not changes:
        raise CliError("nothing to update: give --sink or --sink-reply")
    subscription = await client.get(SUBSCRIPTIONS, args.name, ns)
    if "spec" in subscription:
        ops = [{"op": "add", "path": f"/spec/{k}", "value": v} for k, v in changes.items()]
    else:
        ops = [{"op": "add", "path": "/spec", "value": changes}]
    await client.patch(SUBSCRIPTIONS, args.name, ns, ops, "json")
    print(f"Subscription '{args.name}' updated in namespace '{ns}'.")
    return 0


def _channel_text(spec: Obj) -> str:
    channel = spec.get("channel")
    return sink_text({"ref": channel}) if isinstance(channel, dict) else ""


def list_lines(subscriptions: list[Obj], now: datetime, all_namespaces: bool) -> list[str]:
    head = ["NAME", "CHANNEL", "SUBSCRIBER", "REPLY", "DEAD LETTER SINK", "READY", "REASON"]
    rows = []
    for s in subscriptions:
        spec = s.get("spec") or {}
        ns = str(s["metadata"].get("namespace") or "")
        dead_letter = (spec.get("delivery") or {}).get("deadLetterSink")
        _age, _conditions, ready, reason = status_cells(s, now)
        rows.append(
            [
                s["metadata"]["name"],
                _channel_text(spec),
                sink_text(spec.get("subscriber"), ns),
                sink_text(spec.get("reply"), ns),
                sink_text(dead_letter, ns),
                ready,
                reason,
            ]
        )
    return table_lines(head, rows, subscriptions, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    ns = None if args.all_namespaces else namespace(args)
    items = [typed(SUBSCRIPTIONS, s) for s in (await client.list(SUBSCRIPTIONS, ns)).items]
    if args.output:
        print_document(as_list(items), args.output)
    elif not items:
        print("No subscriptions found.")
    else:
        print("\n".join(list_lines(items, datetime.now(UTC), args.all_namespaces)))
    return 0


def describe_text(subscription: Obj, events: list[Obj], now: datetime) -> str:
    """``subscription describe``: channel, subscriber, reply, delivery, conditions."""
    meta = subscription.get("metadata") or {}
    ns = str(meta.get("namespace") or "")
    spec = subscription.get("spec") or {}
    summary: dict[str, Any] = {
        "age": age_of(meta.get("creationTimestamp"), now),
        "channel": _channel_text(spec) or "<none>",
        "subscriber": sink_text(spec.get("subscriber"), ns) or "<none>",
        "reply": sink_text(spec.get("reply"), ns) or "<none>",
    }
    if spec.get("delivery"):
        summary["delivery"] = delivery_view(spec["delivery"], ns)
    status = subscription.get("status") or {}
    physical = status.get("physicalSubscription")
    if physical:
        summary["resolved"] = physical
    lines = header(subscription) + fields(summary, 0) + conditions(status, now)
    return "\n".join(lines + event_lines(events, now)) + "\n"


async def run_describe(args: argparse.Namespace, client: RestClient) -> int:
    subscription = typed(SUBSCRIPTIONS, await client.get(SUBSCRIPTIONS, args.name, namespace(args)))
    if args.output:
        print_document(subscription, args.output)
        return 0
    now = datetime.now(UTC)
    sys.stdout.write(describe_text(subscription, await events_of(client, subscription), now))
    return 0


async def run_delete(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.delete(SUBSCRIPTIONS, args.name, ns)
    print(f"Subscription '{args.name}' deleted in namespace '{ns}'.")
    return 0
