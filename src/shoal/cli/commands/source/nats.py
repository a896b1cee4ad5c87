"""``shoal source nats create|update|list|describe|delete``: NatsSource verbs, kn-style.

``create`` builds a NatsSource from the flags (``--servers`` as given, a comma-separated
string or repeated; ``--subject``; ``--queue-group``; ``--stream`` with ``--consumer`` and
``--deliver-policy`` for JetStream; ``--sink``; ``--ce-override key=value``); the server
defaults the rest (servers from ``config-nats``, the durable consumer's name). ``update``
changes what its flags give (``--ce-override key-`` removes one). ``list`` prints NAME
SUBJECT SINK AGE CONDITIONS READY REASON, ``describe`` the spec, sink URI and conditions.
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
from shoal.cli.sinks import parse_sink, sink_text
from shoal.client.base import Obj
from shoal.client.rest import RestClient

NATSSOURCES = default_catalog().require("natssources")
OUTPUTS = ("yaml", "json")
DELIVER_POLICIES = ("all", "new", "last")


def register(kinds: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = kinds.add_parser(
        "nats",
        help="manage NATS sources (create, update, list, describe, delete)",
        description="Manage NatsSources: the messages of a NATS subject sent to a sink.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser("create", parents=parents, help="create a NATS source")
    create.add_argument("name", metavar="NAME")
    add_spec_options(create, creating=True)
    add_namespace_options(create)
    create.set_defaults(handler=api_command(run_create))

    update = verbs.add_parser("update", parents=parents, help="update a NATS source")
    update.add_argument("name", metavar="NAME")
    add_spec_options(update, creating=False)
    add_namespace_options(update)
    update.set_defaults(handler=api_command(run_update))

    listing = verbs.add_parser("list", aliases=["ls"], parents=parents,
                               help="list NATS sources")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(run_list))

    describe = verbs.add_parser("describe", parents=parents, help="show a NATS source")
    describe.add_argument("name", metavar="NAME")
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.set_defaults(handler=api_command(run_describe))

    delete = verbs.add_parser("delete", parents=parents, help="delete a NATS source")
    delete.add_argument("name", metavar="NAME")
    add_namespace_options(delete)
    delete.set_defaults(handler=api_command(run_delete))


def add_spec_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    parser.add_argument("--servers", action="append", metavar="URLS",
                        help="NATS server URLs, comma-separated or repeated "
                        "(default: url of config-nats)")
    parser.add_argument("--subject", required=creating,
                        help="subject to read; * matches one token, > the rest")
    parser.add_argument("--queue-group", metavar="GROUP",
                        help="share the subject's messages within this queue group")
    parser.add_argument("--stream", help="read through this JetStream stream")
    parser.add_argument("--consumer", metavar="DURABLE",
                        help="the durable consumer's name (with --stream)")
    parser.add_argument("--deliver-policy", choices=DELIVER_POLICIES,
                        help="where a new durable consumer starts (with --stream)")
    parser.add_argument("--sink", required=creating, metavar="SINK",
                        help="where events go: ksvc:NAME, broker:NAME, a URL, ...")
    parser.add_argument("--ce-override", action="append", default=[], metavar="KEY=VALUE",
                        help="set an extension on every event (KEY- removes one); repeatable")


def servers_of(values: list[str] | None) -> list[str]:
    return [s.strip() for v in values or [] for s in v.split(",") if s.strip()]


def overrides_of(values: list[str]) -> dict[str, str | None]:
    """``--ce-override`` values: key → value, or key → None for ``key-`` (remove)."""
    out: dict[str, str | None] = {}
    for value in values:
        new: str | None
        if "=" in value:
            key, _, new = value.partition("=")
        elif value.endswith("-"):
            key, new = value[:-1], None
        else:
            raise CliError(f"--ce-override {value!r}: expected KEY=VALUE or KEY-")
        if not key.strip():
            raise CliError(f"--ce-override {value!r}: the key is empty")
        out[key.strip()] = new
    return out


def spec_changes(args: argparse.Namespace, ns: str, current: Obj | None = None) -> Obj:
    """The spec fields the flags set, merged into ``current`` (the stored spec)."""
    spec: Obj = dict(current or {})
    if args.servers:
        spec["servers"] = servers_of(args.servers)
    if args.subject:
        spec["subject"] = args.subject
    if args.queue_group is not None:
        spec["queueGroup"] = args.queue_group
    jetstream: dict[str, Any] = dict(spec.get("jetstream") or {})
    for flag, key in (("stream", "stream"), ("consumer", "consumer"),
                      ("deliver_policy", "deliverPolicy")):
        if getattr(args, flag):
            jetstream[key] = getattr(args, flag)
    if jetstream and "stream" not in jetstream:
        raise CliError("--consumer and --deliver-policy need --stream")
    if jetstream:
        spec["jetstream"] = jetstream
    if args.sink:
        spec["sink"] = parse_sink(args.sink, ns)
    changes = overrides_of(args.ce_override)
    if changes:
        extensions = dict(((spec.get("ceOverrides") or {}).get("extensions")) or {})
        for key, value in changes.items():
            if value is None:
                extensions.pop(key, None)
            else:
                extensions[key] = value
        spec.pop("ceOverrides", None)
        if extensions:
            spec["ceOverrides"] = {"extensions": extensions}
    return spec


def build_source(args: argparse.Namespace, ns: str) -> Obj:
    """The NatsSource that ``source nats create`` sends for these flags."""
    return {"apiVersion": NATSSOURCES.api_version, "kind": NATSSOURCES.kind,
            "metadata": {"name": args.name, "namespace": ns}, "spec": spec_changes(args, ns)}


async def run_create(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.create(NATSSOURCES, build_source(args, ns))
    print(f"NATS source '{args.name}' created in namespace '{ns}'.")
    return 0


async def run_update(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    source = await client.get(NATSSOURCES, args.name, ns)
    current = source.get("spec") or {}
    spec = spec_changes(args, ns, current)
    if spec == current:
        raise CliError("nothing to update: give at least one option")
    source["spec"] = spec
    await client.update(NATSSOURCES, source)
    print(f"NATS source '{args.name}' updated in namespace '{ns}'.")
    return 0


def list_lines(sources: list[Obj], now: datetime, all_namespaces: bool) -> list[str]:
    head = ["NAME", "SUBJECT", "SINK", "AGE", "CONDITIONS", "READY", "REASON"]
    rows = [[s["metadata"]["name"], str((s.get("spec") or {}).get("subject") or ""),
             sink_text((s.get("spec") or {}).get("sink"), s["metadata"].get("namespace", "")),
             *status_cells(s, now)] for s in sources]
    return table_lines(head, rows, sources, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    ns = None if args.all_namespaces else namespace(args)
    sources = [typed(NATSSOURCES, s) for s in (await client.list(NATSSOURCES, ns)).items]
    if args.output:
        print_document(as_list(sources), args.output)
    elif not sources:
        print("No NATS sources found.")
    else:
        print("\n".join(list_lines(sources, datetime.now(UTC), args.all_namespaces)))
    return 0


def describe_text(source: Obj, events: list[Obj], now: datetime) -> str:
    meta = source.get("metadata") or {}
    spec = source.get("spec") or {}
    status = source.get("status") or {}
    summary: Obj = {"age": age_of(meta.get("creationTimestamp"), now),
                    "servers": ", ".join(servers_of(
                        [spec["servers"]] if isinstance(spec.get("servers"), str)
                        else spec.get("servers"))),
                    "subject": spec.get("subject") or ""}
    for key in ("queueGroup", "jetstream", "ceOverrides"):
        if spec.get(key):
            summary[key] = spec[key]
    summary["sink"] = sink_text(spec.get("sink"), str(meta.get("namespace") or ""))
    if status.get("sinkUri"):
        summary["sinkUri"] = status["sinkUri"]
    lines = header(source) + fields(summary, 0) + conditions(status, now)
    return "\n".join(lines + event_lines(events, now)) + "\n"


async def run_describe(args: argparse.Namespace, client: RestClient) -> int:
    source = typed(NATSSOURCES, await client.get(NATSSOURCES, args.name, namespace(args)))
    if args.output:
        print_document(source, args.output)
        return 0
    sys.stdout.write(describe_text(source, await events_of(client, source), datetime.now(UTC)))
    return 0


async def run_delete(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.delete(NATSSOURCES, args.name, ns)
    print(f"NATS source '{args.name}' deleted in namespace '{ns}'.")
    return 0
