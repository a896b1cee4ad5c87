"""``shoal broker create|update|list|describe|delete``: kn's broker verbs.

``create`` builds a Broker from kn's flags (``--class`` as the
``eventing.knative.dev/broker.class`` annotation, the delivery flags as ``spec.delivery``);
the server fills in the rest from ``config-br-defaults`` (class ``SQLiteBroker``, 10 retries,
exponential backoff). ``update`` changes delivery options (the class cannot change).
``list`` prints kn's columns (NAME URL AGE CONDITIONS READY REASON), ``describe`` the
address, class, delivery options, conditions and events. Messages are kn's
(``Broker 'default' successfully created in namespace 'default'.``).

The other eventing verbs print their lists and documents the same way and reuse
``status_cells`` (kn's AGE, CONDITIONS, READY and REASON columns), ``table_lines`` and
``print_document`` from here.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from shoal.api.catalog import default_catalog
from shoal.api.eventing.broker import BROKER_CLASS_ANNOTATION
from shoal.cli.commands.describe import events_of
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.describer import age_of, conditions, event_lines, fields, header
from shoal.cli.errors import CliError
from shoal.cli.printers import Aligner, as_list, dump_json, dump_yaml, typed
from shoal.cli.sinks import (
    add_delivery_options,
    delivery_changes,
    delivery_view,
    merged_delivery,
)
from shoal.client.base import Obj
from shoal.client.rest import RestClient

BROKERS = default_catalog().require("brokers")
OUTPUTS = ("yaml", "json")


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "broker",
        help="manage brokers (create, update, list, describe, delete)",
        description="Manage brokers: the event meshes that producers send to and "
        "triggers subscribe to.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser(
        "create",
        parents=parents,
        help="create a broker",
        description="Create a broker. Unset options come from config-br-defaults.",
    )
    create.add_argument("name", metavar="NAME")
    create.add_argument(
        "--class",
        dest="broker_class",
        metavar="CLASS",
        help="broker class: SQLiteBroker (durable, the default), MTChannelBasedBroker "
        "(served by the same durable log), InMemoryBroker (fast, loses events on restart) "
        "or NatsJetStreamBroker (a NATS JetStream stream, see config-nats)",
    )
    add_delivery_options(create)
    add_namespace_options(create)
    create.set_defaults(handler=api_command(run_create))

    update = verbs.add_parser("update", parents=parents, help="update a broker's delivery options")
    update.add_argument("name", metavar="NAME")
    add_delivery_options(update)
    add_namespace_options(update)
    update.set_defaults(handler=api_command(run_update))

    listing = verbs.add_parser("list", aliases=["ls"], parents=parents, help="list brokers")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(run_list))

    describe = verbs.add_parser("describe", parents=parents, help="show a broker")
    describe.add_argument("name", metavar="NAME")
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.set_defaults(handler=api_command(run_describe))

    delete = verbs.add_parser("delete", parents=parents, help="delete a broker")
    delete.add_argument("name", metavar="NAME")
    add_namespace_options(delete)
    delete.set_defaults(handler=api_command(run_delete))


def build_broker(args: argparse.Namespace, ns: str) -> Obj:
    """The Broker that ``broker create`` sends for these flags."""
    meta: Obj = {"name": args.name, "namespace": ns}
    if args.broker_class:
        meta["annotations"] = {BROKER_CLASS_ANNOTATION: args.broker_class}
    spec: Obj = {}
    delivery = delivery_changes(args, ns)
    if delivery:
        spec["delivery"] = delivery
    return {"apiVersion": BROKERS.api_version, "kind": BROKERS.kind, "metadata": meta, "spec": spec}


async def run_create(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.create(BROKERS, build_broker(args, ns))
    print(f"Broker '{args.name}' successfully created in namespace '{ns}'.")
    return 0


async def run_update(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    changes = delivery_changes(args, ns)
    if not changes:
        raise CliError("nothing to update: give at least one delivery option")
    broker = await client.get(BROKERS, args.name, ns)
    delivery = merged_delivery((broker.get("spec") or {}).get("delivery"), changes)
    if "spec" in broker:
        patch = [{"op": "add", "path": "/spec/delivery", "value": delivery}]
    else:
        patch = [{"op": "add", "path": "/spec", "value": {"delivery": delivery}}]
    await client.patch(BROKERS, args.name, ns, patch, "json")
    print(f"Broker '{args.name}' updated in namespace '{ns}'.")
    return 0


def broker_url(broker: Obj) -> str:
    address = (broker.get("status") or {}).get("address") or {}
    return str(address.get("url") or "")


def status_cells(obj: Obj, now: datetime) -> list[str]:
    """AGE, CONDITIONS, READY and REASON, as kn's lists show them."""
    conds = [c for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]
    ready = next((c for c in conds if c.get("type") == "Ready"), {})
    ok = sum(1 for c in conds if c.get("status") == "True")
    return [
        age_of((obj.get("metadata") or {}).get("creationTimestamp"), now),
        f"{ok} OK / {len(conds)}",
        str(ready.get("status") or "<unknown>"),
        str(ready.get("reason") or ""),
    ]


def table_lines(
    head: list[str], rows: list[list[str]], objects: list[Obj], all_namespaces: bool
) -> list[str]:
    """Aligned lines of a kn list; with ``-A`` a NAMESPACE column comes first."""
    if all_namespaces:
        head = ["NAMESPACE", *head]
        rows = [
            [str((o.get("metadata") or {}).get("namespace", "")), *row]
            for row, o in zip(rows, objects, strict=True)
        ]
    return Aligner().lines([head, *rows])


def print_document(obj: Obj, output: str) -> None:
    """``-o yaml`` or ``-o json``."""
    sys.stdout.write(dump_yaml(obj) if output == "yaml" else dump_json(obj) + "\n")


def list_lines(brokers: list[Obj], now: datetime, all_namespaces: bool) -> list[str]:
    head = ["NAME", "URL", "AGE", "CONDITIONS", "READY", "REASON"]
    rows = [[b["metadata"]["name"], broker_url(b), *status_cells(b, now)] for b in brokers]
    return table_lines(head, rows, brokers, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    ns = None if args.all_namespaces else namespace(args)
    brokers = [typed(BROKERS, b) for b in (await client.list(BROKERS, ns)).items]
    if args.output:
        print_document(as_list(brokers), args.output)
    elif not brokers:
        print("No brokers found.")
    else:
        print("\n".join(list_lines(brokers, datetime.now(UTC), args.all_namespaces)))
    return 0


def describe_text(broker: Obj, events: list[Obj], now: datetime) -> str:
    """``broker describe``: who it is, its address, class, delivery and conditions."""
    meta = broker.get("metadata") or {}
    ns = str(meta.get("namespace") or "")
    spec = broker.get("spec") or {}
    summary: Obj = {
        "age": age_of(meta.get("creationTimestamp"), now),
        "class": (meta.get("annotations") or {}).get(BROKER_CLASS_ANNOTATION) or "<none>",
        "address": {"url": broker_url(broker) or "<none>"},
        "delivery": delivery_view(spec.get("delivery"), ns),
    }
    if spec.get("config"):
        summary["config"] = spec["config"]
    status = broker.get("status") or {}
    if status.get("deadLetterSinkUri"):
        summary["deadLetterSinkUri"] = status["deadLetterSinkUri"]
    lines = header(broker) + fields(summary, 0) + conditions(status, now)
    return "\n".join(lines + event_lines(events, now)) + "\n"


async def run_describe(args: argparse.Namespace, client: RestClient) -> int:
    broker = typed(BROKERS, await client.get(BROKERS, args.name, namespace(args)))
    if args.output:
        print_document(broker, args.output)
        return 0
    now = datetime.now(UTC)
    sys.stdout.write(describe_text(broker, await events_of(client, broker), now))
    return 0


async def run_delete(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.delete(BROKERS, args.name, ns)
    print(f"Broker '{args.name}' successfully deleted in namespace '{ns}'.")
    return 0
