"""``shoal source``: kn's source verbs, one subgroup per kind, and a list over every kind.

``KINDS`` holds one module per kind (``ping``, ``apiserver``, ``container``, ``binding``,
``nats``, ``kafka``);
each has ``register(kinds, parents)`` and builds its verbs with ``verbs.register_kind``. A
new source kind is a new module added to ``KINDS``. ``shoal source list`` shows every
source in the catalog: the kinds of ``sources.knative.dev`` and any other kind whose spec
has a ``sink``, with kn's columns (NAME TYPE RESOURCE SINK READY).
"""

from __future__ import annotations

import argparse

from shoal.api.catalog import default_catalog
from shoal.api.types import ResourceType
from shoal.cli.commands.broker import print_document, table_lines
from shoal.cli.commands.source import apiserver, binding, container, kafka, nats, ping
from shoal.cli.commands.source.verbs import sink_cell
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.printers import as_list, typed
from shoal.client.base import Obj
from shoal.client.rest import RestClient

KINDS = (ping, apiserver, container, binding, nats, kafka)
SOURCES_GROUP = "sources.knative.dev"


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "source",
        help="manage event sources (ping, apiserver, container, binding, nats, kafka, list)",
        description="Manage event sources: programs and schedules that send events to a sink.")
    kinds = group.add_subparsers(dest="kind", metavar="KIND", required=True)
    for module in KINDS:
        module.register(kinds, parents)
    listing = kinds.add_parser("list", aliases=["ls"], parents=parents,
                               help="list the sources of every kind")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=("yaml", "json"), help="output format")
    listing.set_defaults(handler=api_command(run_list))


def _has_sink(rt: ResourceType) -> bool:
    spec = rt.model.model_fields.get("spec")
    annotation = spec.annotation if spec is not None else None
    fields = getattr(annotation, "model_fields", None)
    return isinstance(fields, dict) and "sink" in fields


def source_types() -> list[ResourceType]:
    return [rt for rt in default_catalog()
            if rt.namespaced and (rt.group == SOURCES_GROUP or _has_sink(rt))]


def _ready(obj: Obj) -> str:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("status") or "<unknown>")
    return "<unknown>"


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    ns = None if args.all_namespaces else namespace(args)
    found: list[tuple[ResourceType, Obj]] = []
    for rt in source_types():
        found.extend((rt, typed(rt, o)) for o in (await client.list(rt, ns)).items)
    items = [o for _, o in found]
    if args.output:
        print_document(as_list(items), args.output)
        return 0
    if not found:
        print("No sources found.")
        return 0
    rows = [[o["metadata"]["name"], rt.kind, f"{rt.plural}.{rt.group}", sink_cell(o),
             _ready(o)] for rt, o in found]
    head = ["NAME", "TYPE", "RESOURCE", "SINK", "READY"]
    print("\n".join(table_lines(head, rows, items, args.all_namespaces)))
    return 0
