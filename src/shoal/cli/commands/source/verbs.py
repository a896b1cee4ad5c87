"""The plumbing every ``shoal source KIND`` shares: its verbs, ``--sink``, ``--ce-override``.

A kind module describes itself with a ``SourceKind`` (its resource type, its own flags,
how they become the spec and change it, what its RESOURCE column shows, and optionally
more columns, its own ``describe`` rows and ``-l/-a`` on create) and calls
``register_kind``, which adds ``create``, ``update``, ``list``, ``describe`` and
``delete`` with kn's flags and messages (``Ping source 'beat' created in namespace
'default'.``). ``--sink`` takes kn's sink syntax (``cli.sinks``); ``--ce-override
KEY=VALUE`` sets an extension of ``spec.ceOverrides`` and, on update, ``KEY-`` removes one.
``update`` reads the source, changes its spec and writes it back (a 409 means it changed
meanwhile: run it again). A field that cannot change is a flag ``add_options`` leaves out
of ``update``.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from shoal.api.types import ResourceType
from shoal.cli.commands.broker import print_document, status_cells, table_lines
from shoal.cli.commands.describe import events_of
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.describer import age_of, conditions, event_lines, fields, header
from shoal.cli.errors import CliError
from shoal.cli.printers import as_list, typed
from shoal.cli.serviceflags import bad, parse_pairs
from shoal.cli.sinks import parse_sink, sink_text
from shoal.client.base import Obj
from shoal.client.rest import RestClient

OUTPUTS = ("yaml", "json")

AddOptions = Callable[[argparse.ArgumentParser, bool], None]
"""Adds the kind's own flags; the flag says whether the parser is ``update``'s."""
EditSpec = Callable[[argparse.Namespace, Obj, str], None]
"""Changes ``spec`` in place from the flags, in the namespace given."""
Column = tuple[str, Callable[[Obj], str]]
"""A column of ``list``: its header and what its cell shows."""


@dataclass(frozen=True)
class SourceKind:
    rt: ResourceType
    title: str  # as kn's messages name it: "Ping source"
    add_options: AddOptions
    edit_spec: EditSpec
    resource: Callable[[Obj], str]  # what the RESOURCE column shows
    resource_header: str = "RESOURCE"
    more_columns: tuple[Column, ...] = ()  # after RESOURCE, before SINK
    details: Callable[[Obj], Obj] | None = None  # describe's rows in place of RESOURCE's
    metadata_flags: bool = False  # -l/--label and -a/--annotation on create
    noun: str = ""  # in help and "No ... found."; the title in lower case if not given

    def __post_init__(self) -> None:
        if not self.noun:
            object.__setattr__(self, "noun", self.title.lower())


def register_kind(kinds: Subcommands, parents: list[argparse.ArgumentParser], name: str,
                  kind: SourceKind, *, help: str) -> None:
    """``shoal source NAME create|update|list|describe|delete`` for ``kind``."""
    noun = kind.noun
    group = kinds.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    for verb, updating, run in (("create", False, run_create), ("update", True, run_update)):
        parser = verbs.add_parser(verb, parents=parents, help=f"{verb} a {noun}")
        parser.add_argument("name", metavar="NAME")
        kind.add_options(parser, updating)
        _add_sink_options(parser, updating=updating)
        if kind.metadata_flags and not updating:
            _add_metadata_options(parser)
        add_namespace_options(parser)
        parser.set_defaults(handler=api_command(partial(run, kind)))

    listing = verbs.add_parser("list", aliases=["ls"], parents=parents, help=f"list {noun}s")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(partial(run_list, kind)))

    describe = verbs.add_parser("describe", parents=parents, help=f"show a {noun}")
    describe.add_argument("name", metavar="NAME")
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.set_defaults(handler=api_command(partial(run_describe, kind)))

    delete = verbs.add_parser("delete", parents=parents, help=f"delete a {noun}")
    delete.add_argument("name", metavar="NAME")
    add_namespace_options(delete)
    delete.set_defaults(handler=api_command(partial(run_delete, kind)))


def _add_sink_options(parser: argparse.ArgumentParser, *, updating: bool) -> None:
    parser.add_argument(
        "--sink", required=not updating, metavar="SINK",
        help="where the events go: ksvc:NAME, broker:NAME, channel:NAME, NAME (a Knative "
        "Service) or an http(s) URL")
    parser.add_argument(
        "--ce-override", dest="ce_overrides", action="append", default=[],
        metavar="KEY=VALUE",
        help="a CloudEvents extension set on every event (repeatable"
        + ("; KEY- removes one)" if updating else ")"))


def _add_metadata_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-l", "--label", dest="labels", action="append", default=[],
                        metavar="KEY=VALUE", help="a label of the source (repeatable)")
    parser.add_argument("-a", "--annotation", dest="annotations", action="append", default=[],
                        metavar="KEY=VALUE", help="an annotation of the source (repeatable)")


def split_list(values: list[str] | None) -> list[str]:
    """Repeated flags and comma lists, flattened: ``["a,b", "c"]`` -> ``["a", "b", "c"]``."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def parse_selector(selector: str, flag: str, text: str) -> Obj:
    """``key=value[,key=value]`` as a label selector's ``matchLabels``."""
    labels: dict[str, str] = {}
    for pair in selector.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise bad(flag, text, "the selector is KEY=VALUE pairs joined by ','")
        labels[key] = value
    return {"matchLabels": labels}


def edit_common(args: argparse.Namespace, spec: Obj, ns: str) -> None:
    """Apply ``--sink`` and ``--ce-override`` to ``spec``."""
    if args.sink is not None:
        spec["sink"] = parse_sink(args.sink, ns)
    if args.ce_overrides:
        setting, removing = parse_pairs(args.ce_overrides, "--ce-override")
        overrides = spec.get("ceOverrides") or {}
        extensions = dict(overrides.get("extensions") or {})
        for key in removing:
            extensions.pop(key, None)
        extensions.update(setting)
        if extensions:
            spec["ceOverrides"] = {**overrides, "extensions": extensions}
        else:
            spec.pop("ceOverrides", None)


def metadata_of(args: argparse.Namespace, name: str, ns: str) -> Obj:
    """The new source's metadata, with ``-l/-a`` when the kind has them."""
    meta: Obj = {"name": name, "namespace": ns}
    for flag, key in (("--label", "labels"), ("--annotation", "annotations")):
        setting, removing = parse_pairs(getattr(args, key, None) or [], flag)
        if removing:
            raise bad(flag, f"{removing[0]}-", "expected KEY=VALUE")
        if setting:
            meta[key] = setting
    return meta


async def run_create(kind: SourceKind, args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    spec: Obj = {}
    kind.edit_spec(args, spec, ns)
    edit_common(args, spec, ns)
    await client.create(kind.rt, {"apiVersion": kind.rt.api_version, "kind": kind.rt.kind,
                                  "metadata": metadata_of(args, args.name, ns),
                                  "spec": spec})
    print(f"{kind.title} '{args.name}' created in namespace '{ns}'.")
    return 0


async def run_update(kind: SourceKind, args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    obj = await client.get(kind.rt, args.name, ns)
    spec = copy.deepcopy(obj.get("spec") or {})
    kind.edit_spec(args, spec, ns)
    edit_common(args, spec, ns)
    if spec == (obj.get("spec") or {}):
        raise CliError(f"nothing to update: give at least one option to change {args.name!r}")
    obj["spec"] = spec
    await client.update(kind.rt, obj)
    print(f"{kind.title} '{args.name}' updated in namespace '{ns}'.")
    return 0


def sink_cell(obj: Obj) -> str:
    ns = str((obj.get("metadata") or {}).get("namespace") or "")
    return sink_text((obj.get("spec") or {}).get("sink"), ns)


def list_lines(kind: SourceKind, items: list[Obj], now: datetime,
               all_namespaces: bool) -> list[str]:
    more = [header for header, _ in kind.more_columns]
    head = ["NAME", kind.resource_header, *more, "SINK", "AGE", "CONDITIONS", "READY", "REASON"]
    rows = [[o["metadata"]["name"], kind.resource(o), *(cell(o) for _, cell in kind.more_columns),
             sink_cell(o), *status_cells(o, now)] for o in items]
    return table_lines(head, rows, items, all_namespaces)


async def run_list(kind: SourceKind, args: argparse.Namespace, client: RestClient) -> int:
    ns = None if args.all_namespaces else namespace(args)
    items = [typed(kind.rt, o) for o in (await client.list(kind.rt, ns)).items]
    if args.output:
        print_document(as_list(items), args.output)
    elif not items:
        print(f"No {kind.noun}s found.")
    else:
        print("\n".join(list_lines(kind, items, datetime.now(UTC), args.all_namespaces)))
    return 0


def describe_text(kind: SourceKind, obj: Obj, events: list[Obj], now: datetime) -> str:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    own = (kind.details(obj) if kind.details is not None
           else {kind.resource_header.lower(): kind.resource(obj) or "<none>"})
    summary: Obj = {"age": age_of(meta.get("creationTimestamp"), now), **own,
                    "sink": sink_cell(obj) or "<none>",
                    "sinkUri": status.get("sinkUri") or "<none>"}
    extensions = (spec.get("ceOverrides") or {}).get("extensions")
    if extensions:  # nested as in the spec, so the names show as written
        summary["ceOverrides"] = {"extensions": extensions}
    lines = header(obj) + fields(summary, 0) + conditions(status, now)
    return "\n".join(lines + event_lines(events, now)) + "\n"


async def run_describe(kind: SourceKind, args: argparse.Namespace, client: RestClient) -> int:
    obj = typed(kind.rt, await client.get(kind.rt, args.name, namespace(args)))
    if args.output:
        print_document(obj, args.output)
        return 0
    sys.stdout.write(describe_text(kind, obj, await events_of(client, obj), datetime.now(UTC)))
    return 0


async def run_delete(kind: SourceKind, args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.delete(kind.rt, args.name, ns)
    print(f"{kind.title} '{args.name}' deleted in namespace '{ns}'.")
    return 0
