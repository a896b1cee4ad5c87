"""``shoal eventtype list|describe``: the catalogue of event types brokers have seen.

Shoal's broker ingress records an ``eventing.knative.dev/v1beta2`` EventType the first time a
broker accepts an event of a (type, source) pair; users may create more with YAML. ``list``
shows them (``--broker`` keeps those of one broker: by ``spec.reference``, the deprecated
``spec.broker`` or the ``eventing.knative.dev/broker`` label), ``describe`` one in full.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.eventing.trigger import BROKER_LABEL
from shoal.cli.commands.broker import print_document, status_cells, table_lines
from shoal.cli.commands.describe import events_of
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.describer import age_of, conditions, event_lines, fields, header
from shoal.cli.printers import as_list, typed
from shoal.cli.sinks import sink_text
from shoal.client.base import Obj
from shoal.client.rest import RestClient

EVENTTYPES = default_catalog().require("eventtypes")
OUTPUTS = ("yaml", "json")


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "eventtype",
        help="list and describe event types",
        description="The event types brokers have seen (and any created with YAML).",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    listing = verbs.add_parser("list", aliases=["ls"], parents=parents, help="list event types")
    listing.add_argument("--broker", help="only the event types of this broker")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(run_list))

    describe = verbs.add_parser("describe", parents=parents, help="show an event type")
    describe.add_argument("name", metavar="NAME")
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.set_defaults(handler=api_command(run_describe))


def of_broker(eventtype: Obj, broker: str) -> bool:
    """Whether an EventType belongs to ``broker``."""
    spec = eventtype.get("spec") or {}
    ref = spec.get("reference") or {}
    if ref:
        return bool(ref.get("kind") == "Broker" and ref.get("name") == broker)
    labels = (eventtype.get("metadata") or {}).get("labels") or {}
    return spec.get("broker") == broker or labels.get(BROKER_LABEL) == broker


def reference_text(eventtype: Obj) -> str:
    spec = eventtype.get("spec") or {}
    ref = spec.get("reference")
    if isinstance(ref, dict) and ref:
        ns = str((eventtype.get("metadata") or {}).get("namespace") or "")
        return sink_text({"ref": ref}, ns)
    return f"broker:{spec['broker']}" if spec.get("broker") else ""


def list_lines(eventtypes: list[Obj], now: datetime, all_namespaces: bool) -> list[str]:
    head = ["NAME", "TYPE", "SOURCE", "SCHEMA", "REFERENCE", "AGE", "READY", "REASON"]
    rows = []
    for et in eventtypes:
        spec = et.get("spec") or {}
        age, _conditions, ready, reason = status_cells(et, now)
        rows.append(
            [
                et["metadata"]["name"],
                str(spec.get("type") or ""),
                str(spec.get("source") or ""),
                str(spec.get("schema") or ""),
                reference_text(et),
                age,
                ready,
                reason,
            ]
        )
    return table_lines(head, rows, eventtypes, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    ns = None if args.all_namespaces else namespace(args)
    items = [typed(EVENTTYPES, e) for e in (await client.list(EVENTTYPES, ns)).items]
    if args.broker:
        items = [e for e in items if of_broker(e, args.broker)]
    if args.output:
        print_document(as_list(items), args.output)
    elif not items:
        print("No eventtypes found.")
    else:
        print("\n".join(list_lines(items, datetime.now(UTC), args.all_namespaces)))
    return 0


def describe_text(eventtype: Obj, events: list[Obj], now: datetime) -> str:
    """``eventtype describe``: type, source, schema, reference, description, conditions."""
    meta = eventtype.get("metadata") or {}
    spec = eventtype.get("spec") or {}
    summary: dict[str, Any] = {
        "age": age_of(meta.get("creationTimestamp"), now),
        "type": spec.get("type") or "<none>",
        "source": spec.get("source") or "<none>",
        "reference": reference_text(eventtype) or "<none>",
    }
    for key in ("schema", "schemaData", "description"):
        if spec.get(key):
            summary[key] = spec[key]
    status = eventtype.get("status") or {}
    lines = header(eventtype) + fields(summary, 0) + conditions(status, now)
    return "\n".join(lines + event_lines(events, now)) + "\n"


async def run_describe(args: argparse.Namespace, client: RestClient) -> int:
    eventtype = typed(EVENTTYPES, await client.get(EVENTTYPES, args.name, namespace(args)))
    if args.output:
        print_document(eventtype, args.output)
        return 0
    now = datetime.now(UTC)
    sys.stdout.write(describe_text(eventtype, await events_of(client, eventtype), now))
    return 0
