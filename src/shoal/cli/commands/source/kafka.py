"""``shoal source kafka create|update|list|describe|delete``: kn's Kafka source verbs.

``create`` builds a KafkaSource from ``kn source kafka``'s flags: ``--servers`` and
``--topics`` (repeatable, or comma lists), ``--consumergroup``, ``--initial-offset``,
``--sink`` (kn's sink syntax, see ``shoal.cli.sinks``), ``--ce-override key=value``
(repeatable), ``--label``/``--annotation``; the server fills in Knative's defaults (a
generated consumer group, ``latest``, one consumer). ``update`` changes the servers,
topics, initial offset, sink and overrides (``--ce-override key-`` removes one); the
consumer group cannot change. ``list`` prints NAME, TOPICS, BOOTSTRAPSERVERS, SINK and
kn's status columns; ``describe`` the source, its sink, overrides, conditions and events.
Messages are kn's (``Kafka source 'orders' created in namespace 'default'.``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.sources.kafka import OFFSETS
from shoal.cli.commands.broker import print_document, status_cells, table_lines
from shoal.cli.commands.describe import events_of
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.describer import age_of, conditions, event_lines, fields, header
from shoal.cli.errors import CliError
from shoal.cli.printers import as_list, typed
from shoal.cli.sinks import parse_sink, sink_text
from shoal.client.base import Obj
from shoal.client.rest import RestClient

KAFKA_SOURCES = default_catalog().require("kafkasources")
OUTPUTS = ("yaml", "json")


def register(kinds: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = kinds.add_parser(
        "kafka",
        help="manage Kafka sources (create, update, list, describe, delete)",
        description="Manage Kafka sources: the records of Kafka topics sent to a sink as "
        "CloudEvents.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser("create", parents=parents, help="create a Kafka source")
    create.add_argument("name", metavar="NAME")
    _add_spec_options(create, creating=True)
    add_namespace_options(create)
    create.set_defaults(handler=api_command(run_create))

    update = verbs.add_parser("update", parents=parents, help="update a Kafka source")
    update.add_argument("name", metavar="NAME")
    _add_spec_options(update, creating=False)
    add_namespace_options(update)
    update.set_defaults(handler=api_command(run_update))

    listing = verbs.add_parser("list", aliases=["ls"], parents=parents,
                               help="list Kafka sources")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(run_list))

    describe = verbs.add_parser("describe", parents=parents, help="show a Kafka source")
    describe.add_argument("name", metavar="NAME")
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.set_defaults(handler=api_command(run_describe))

    delete = verbs.add_parser("delete", parents=parents, help="delete a Kafka source")
    delete.add_argument("name", metavar="NAME")
    add_namespace_options(delete)
    delete.set_defaults(handler=api_command(run_delete))


def _add_spec_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    parser.add_argument(
        "--servers", action="append", metavar="HOST:PORT",
        help="Kafka bootstrap servers (repeatable, or a comma list)" +
        ("; required" if creating else ""))
    parser.add_argument(
        "--topics", action="append", metavar="TOPIC",
        help="topics to consume (repeatable, or a comma list)" + ("; required" if creating
                                                                   else ""))
    if creating:
        parser.add_argument("--consumergroup", metavar="GROUP",
                            help="the consumer group ID (default: a generated one)")
    parser.add_argument("--initial-offset", choices=OFFSETS,
                        help="where a new consumer group starts (default latest)")
    parser.add_argument("--sink", metavar="SINK",
                        help="where events go: ksvc:NAME, broker:NAME, channel:NAME or a URL" +
                        ("; required" if creating else ""))
    parser.add_argument(
        "--ce-override", action="append", default=[], metavar="KEY=VALUE",
        help="a CloudEvent extension set on every event (repeatable)" +
        ("" if creating else "; KEY- removes one"))
    if creating:
        parser.add_argument("-l", "--label", action="append", default=[],
                            metavar="KEY=VALUE", help="a label of the source (repeatable)")
        parser.add_argument("-a", "--annotation", action="append", default=[],
                            metavar="KEY=VALUE",
                            help="an annotation of the source (repeatable), e.g. "
                            "kafkasources.sources.knative.dev/key-type=int")


def split_list(values: list[str] | None) -> list[str]:
    """Repeated flags and comma lists, flattened: ``["a,b", "c"]`` -> ``["a", "b", "c"]``."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def parse_pairs(
    values: list[str], flag: str, *, removals: bool
) -> tuple[dict[str, str], list[str]]:
    """``KEY=VALUE`` flags; with ``removals``, ``KEY-`` names a key to remove."""
    pairs: dict[str, str] = {}
    removed: list[str] = []
    for value in values:
        key, sep, text = value.partition("=")
        if not sep and removals and key.endswith("-") and len(key) > 1:
            removed.append(key[:-1])
        elif not sep or not key:
            raise CliError(f"invalid value {value!r} for {flag}: expected KEY=VALUE")
        else:
            pairs[key] = text
    return pairs, removed


def build_source(args: argparse.Namespace, ns: str) -> Obj:
    """The KafkaSource that ``source kafka create`` sends for these flags."""
    servers, topics = split_list(args.servers), split_list(args.topics)
    missing = [flag for flag, value in (("--servers", servers), ("--topics", topics),
                                        ("--sink", args.sink)) if not value]
    if missing:
        raise CliError(f"required flag(s) {', '.join(missing)} not set")
    meta: Obj = {"name": args.name, "namespace": ns}
    labels, _ = parse_pairs(args.label, "--label", removals=False)
    annotations, _ = parse_pairs(args.annotation, "--annotation", removals=False)
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    spec: Obj = {"bootstrapServers": servers, "topics": topics,
                 "sink": parse_sink(args.sink, ns)}
    if args.consumergroup:
        spec["consumerGroup"] = args.consumergroup
    if args.initial_offset:
        spec["initialOffset"] = args.initial_offset
    overrides, _ = parse_pairs(args.ce_override, "--ce-override", removals=False)
    if overrides:
        spec["ceOverrides"] = {"extensions": overrides}
    return {"apiVersion": KAFKA_SOURCES.api_version, "kind": KAFKA_SOURCES.kind,
            "metadata": meta, "spec": spec}


def updated_spec(spec: Obj, args: argparse.Namespace, ns: str) -> Obj:
    """``spec`` with the flags of ``source kafka update`` applied."""
    out = dict(spec)
    if args.servers:
        out["bootstrapServers"] = split_list(args.servers)
    if args.topics:
        out["topics"] = split_list(args.topics)
    if args.initial_offset:
        out["initialOffset"] = args.initial_offset
    if args.sink:
        out["sink"] = parse_sink(args.sink, ns)
    overrides, removed = parse_pairs(args.ce_override, "--ce-override", removals=True)
    if overrides or removed:
        extensions = dict((out.get("ceOverrides") or {}).get("extensions") or {})
        extensions.update(overrides)
        for key in removed:
            extensions.pop(key, None)
        out["ceOverrides"] = {"extensions": extensions}
    return out


async def run_create(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.create(KAFKA_SOURCES, build_source(args, ns))
    print(f"Kafka source '{args.name}' created in namespace '{ns}'.")
    return 0


async def run_update(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    source = await client.get(KAFKA_SOURCES, args.name, ns)
    spec = source.get("spec") or {}
    new = updated_spec(spec, args, ns)
    if new == spec:
        raise CliError("nothing to update: give --servers, --topics, --initial-offset, "
                       "--sink or --ce-override")
    await client.patch(KAFKA_SOURCES, args.name, ns,
                       [{"op": "add", "path": "/spec", "value": new}], "json")
    print(f"Kafka source '{args.name}' updated in namespace '{ns}'.")
    return 0


def list_lines(sources: list[Obj], now: datetime, all_namespaces: bool) -> list[str]:
    head = ["NAME", "TOPICS", "BOOTSTRAPSERVERS", "SINK", "AGE", "CONDITIONS", "READY",
            "REASON"]
    rows = []
    for s in sources:
        spec = s.get("spec") or {}
        ns = str(s["metadata"].get("namespace") or "")
        rows.append([s["metadata"]["name"], ",".join(spec.get("topics") or []),
                     ",".join(spec.get("bootstrapServers") or []),
                     sink_text(spec.get("sink"), ns), *status_cells(s, now)])
    return table_lines(head, rows, sources, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    ns = None if args.all_namespaces else namespace(args)
    sources = [typed(KAFKA_SOURCES, s) for s in (await client.list(KAFKA_SOURCES, ns)).items]
    if args.output:
        print_document(as_list(sources), args.output)
    elif not sources:
        print("No Kafka sources found.")
    else:
        print("\n".join(list_lines(sources, datetime.now(UTC), args.all_namespaces)))
    return 0


def describe_text(source: Obj, events: list[Obj], now: datetime) -> str:
    """``source kafka describe``: servers, topics, group, sink, overrides, conditions."""
    meta = source.get("metadata") or {}
    ns = str(meta.get("namespace") or "")
    spec = source.get("spec") or {}
    status = source.get("status") or {}
    summary: dict[str, Any] = {
        "age": age_of(meta.get("creationTimestamp"), now),
        "bootstrapServers": ", ".join(spec.get("bootstrapServers") or []),
        "topics": ", ".join(spec.get("topics") or []),
        "consumerGroup": spec.get("consumerGroup") or "<none>",
        "initialOffset": spec.get("initialOffset") or "<none>",
        "sink": sink_text(spec.get("sink"), ns) or "<none>",
        "sinkUri": status.get("sinkUri") or "<none>",
    }
    extensions = (spec.get("ceOverrides") or {}).get("extensions")
    if extensions:
        summary["cloudEventOverrides"] = {"extensions": extensions}
    if spec.get("delivery"):
        summary["delivery"] = spec["delivery"]
    lines = header(source) + fields(summary, 0) + conditions(status, now)
    return "\n".join(lines + event_lines(events, now)) + "\n"


async def run_describe(args: argparse.Namespace, client: RestClient) -> int:
    source = typed(KAFKA_SOURCES, await client.get(KAFKA_SOURCES, args.name, namespace(args)))
    if args.output:
        print_document(source, args.output)
        return 0
    now = datetime.now(UTC)
    sys.stdout.write(describe_text(source, await events_of(client, source), now))
    return 0


async def run_delete(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.delete(KAFKA_SOURCES, args.name, ns)
    print(f"Kafka source '{args.name}' deleted in namespace '{ns}'.")
    return 0
