"""``shoal get KIND [NAME...]``: objects as kubectl prints them, and ``-w`` to follow changes.

The table is the server's (``Accept: ...;as=Table``), so every kind shows its own printer
columns: headers upper-cased, ``NAMESPACE`` first with ``-A``, priority columns only with
``-o wide``. ``-o yaml|json`` prints the object, or a ``v1`` List when there can be several;
``-o name`` prints ``resource/name``. ``-w`` prints the table, then one row per change
(``--watch-only`` skips the table); it ends with ``--request-timeout`` or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import AsyncIterator

from shoal.api.errors import ApiError, NotFound
from shoal.api.types import ResourceType
from shoal.cli.context import (
    Subcommands,
    add_namespace_options,
    api_command,
    namespace,
    report,
    targets,
)
from shoal.cli.errors import CliError
from shoal.cli.printers import (
    Aligner,
    as_list,
    dump_json,
    dump_yaml,
    no_resources,
    object_ref,
    table_columns,
    table_header,
    table_rows,
    typed,
)
from shoal.client.base import Obj
from shoal.client.rest import RestClient

OBJECT_FORMATS = ("yaml", "json", "name")
Groups = list[tuple[ResourceType, list[str]]]
RECONNECT_DELAY = 0.5


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "get",
        parents=parents,
        help="show objects as a table, YAML or JSON",
        description="Show one or many objects. KIND is any name of a resource: ksvc, "
        "services, service.serving.knative.dev, cm, ... (or KIND/NAME).",
    )
    parser.add_argument("kind", metavar="KIND", help="kind, or KIND/NAME")
    parser.add_argument("names", nargs="*", metavar="NAME")
    add_namespace_options(parser, all_namespaces=True)
    parser.add_argument(
        "-l",
        "--selector",
        default="",
        metavar="SELECTOR",
        help="label selector, e.g. app=web,tier!=db",
    )
    parser.add_argument(
        "--field-selector",
        default="",
        metavar="SELECTOR",
        help="field selector, e.g. metadata.name=hello",
    )
    parser.add_argument("-o", "--output", choices=("wide", *OBJECT_FORMATS), help="output format")
    parser.add_argument(
        "-w", "--watch", action="store_true", help="after listing, print every change"
    )
    parser.add_argument(
        "--watch-only", action="store_true", help="print changes only, not the current objects"
    )
    parser.add_argument(
        "--no-headers", action="store_true", help="leave out the header row of tables"
    )
    parser.add_argument(
        "--ignore-not-found",
        action="store_true",
        help="say nothing about objects that do not exist",
    )
    parser.set_defaults(handler=api_command(run))


async def run(args: argparse.Namespace, client: RestClient) -> int:
    groups = targets([args.kind, *args.names])
    if args.all_namespaces and any(names for _, names in groups):
        raise CliError("a resource cannot be retrieved by name across all namespaces")
    if (args.watch or args.watch_only) and len(groups) > 1:
        raise CliError("you may only specify a single resource type")
    ns = None if args.all_namespaces else namespace(args)
    if args.output in OBJECT_FORMATS:
        return await _objects(client, groups, ns, args)
    return await _tables(client, groups, ns, args)


# -- -o yaml|json|name -----------------------------------------------------------------------


async def _objects(
    client: RestClient, groups: Groups, ns: str | None, args: argparse.Namespace
) -> int:
    found: list[tuple[ResourceType, Obj]] = []
    failed = False
    rv = ""
    for rt, names in groups:
        for name in names:
            try:
                found.append((rt, typed(rt, await client.get(rt, name, ns or ""))))
            except NotFound as exc:
                failed |= _missing(exc, args)
        if not names:
            listed = await client.list(
                rt, ns, label_selector=args.selector, field_selector=args.field_selector
            )
            found += [(rt, typed(rt, item)) for item in listed.items]
            rv = listed.resource_version if len(groups) == 1 else ""
    named = any(names for _, names in groups)
    if not args.watch_only:
        items = [obj for _, obj in found]
        if args.output == "name":
            _print_lines([object_ref(rt, obj["metadata"]["name"]) for rt, obj in found])
            if not found and not named:
                print(no_resources(ns, groups[0][0].namespaced), file=sys.stderr)
        elif len(groups) == 1 and len(groups[0][1]) == 1:
            if items:
                _print_document(items[0], args.output)
        elif items or not named:
            _print_document(as_list(items, rv), args.output)
    if args.watch or args.watch_only:
        rt, names = groups[0]
        rv = rv or _oldest([obj for _, obj in found])
        await _watch_objects(client, rt, ns, names, rv, args)
    return 1 if failed else 0


def _print_document(obj: Obj, output: str, separator: bool = False) -> None:
    if output == "yaml":
        sys.stdout.write(("---\n" if separator else "") + dump_yaml(obj))
    else:
        sys.stdout.write(dump_json(obj) + "\n")
    sys.stdout.flush()


# -- tables ----------------------------------------------------------------------------------


async def _tables(
    client: RestClient, groups: Groups, ns: str | None, args: argparse.Namespace
) -> int:
    failed = False
    printed = False
    wide = args.output == "wide"
    aligner = Aligner()
    columns: list[tuple[int, str]] = []
    header: list[list[str]] = []
    table: Obj = {}
    for rt, names in groups:
        table, missing = await _table(client, rt, ns, names, args)
        failed |= missing
        if len(groups) > 1:  # several kinds: NAME says which (service.serving.../hello)
            for row in table.get("rows") or []:
                row["cells"][0] = object_ref(rt, str(row["cells"][0]))
        with_ns = bool(args.all_namespaces) and rt.namespaced
        aligner = Aligner()
        columns = table_columns(table, wide)
        rows = table_rows(table, columns, with_ns)
        header = [] if args.no_headers else [table_header(columns, with_ns)]
        if rows and not args.watch_only:
            if printed:
                print()
            _print_lines(aligner.lines(header + rows))
            header, printed = [], True
    if not printed and not args.watch_only and not any(names for _, names in groups):
        print(no_resources(ns, groups[0][0].namespaced), file=sys.stderr)
    if args.watch or args.watch_only:
        rt, names = groups[0]
        with_ns = bool(args.all_namespaces) and rt.namespaced
        rv = str((table.get("metadata") or {}).get("resourceVersion", ""))
        if names:
            rv = _oldest([row.get("object") or {} for row in table.get("rows") or []])
        async for event_table in _watch(client, rt, ns, names, rv, args, as_table=True):
            if not columns and event_table.get("columnDefinitions"):
                columns = table_columns(event_table, wide)
                header = [] if args.no_headers else [table_header(columns, with_ns)]
            rows = table_rows(event_table, columns, with_ns)
            if rows:
                _print_lines(aligner.lines(header + rows))
                header = []
    return 1 if failed else 0


async def _table(
    client: RestClient,
    rt: ResourceType,
    ns: str | None,
    names: list[str],
    args: argparse.Namespace,
) -> tuple[Obj, bool]:
    """The server's Table of the named objects (or of the list); whether a name was missing."""
    if not names:
        table = await client.table(
            rt, ns, label_selector=args.selector, field_selector=args.field_selector
        )
        return table, False
    merged: Obj = {}
    failed = False
    for name in names:
        try:
            one = await client.table(rt, ns or "", name)
        except NotFound as exc:
            failed |= _missing(exc, args)
            continue
        if merged:
            merged["rows"] = [*merged.get("rows", []), *one.get("rows", [])]
        else:
            merged = one
    return merged, failed


def _oldest(objects: list[Obj]) -> str:
    """The smallest resourceVersion of ``objects``: a watch from it misses none of their changes."""
    versions = [
        int(v)
        for o in objects
        if str(v := (o.get("metadata") or {}).get("resourceVersion", "")).isdigit()
    ]
    return str(min(versions)) if versions else ""


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)
    sys.stdout.flush()


async def _watch_objects(
    client: RestClient,
    rt: ResourceType,
    ns: str | None,
    names: list[str],
    rv: str,
    args: argparse.Namespace,
) -> None:
    async for obj in _watch(client, rt, ns, names, rv, args, as_table=False):
        if args.output == "name":
            print(object_ref(rt, obj["metadata"]["name"]), flush=True)
        else:
            _print_document(obj, args.output, separator=True)


async def _watch(
    client: RestClient,
    rt: ResourceType,
    ns: str | None,
    names: list[str],
    rv: str,
    args: argparse.Namespace,
    *,
    as_table: bool,
) -> AsyncIterator[Obj]:
    """Objects (or one-row Tables) of the changes after ``rv``, reconnecting as needed.

    With ``--request-timeout`` the server ends the watch after that long, and so do we.
    """
    timeout = getattr(args, "request_timeout", None)
    seconds = max(1, math.ceil(timeout)) if timeout else None
    field_selector = args.field_selector
    if len(names) == 1:
        extra = f"metadata.name={names[0]}"
        field_selector = f"{field_selector},{extra}" if field_selector else extra
    while True:
        stream = (client.watch_table if as_table else client.watch)(
            rt,
            ns,
            resource_version=rv,
            label_selector=args.selector,
            field_selector=field_selector,
            timeout_seconds=seconds,
        )
        async for event in stream:
            obj = event.object
            rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
            if event.type == "BOOKMARK":
                continue
            if names and not _named(obj, names, as_table):
                continue
            yield obj if as_table else typed(rt, obj)
        if seconds is not None:
            return
        await asyncio.sleep(RECONNECT_DELAY)  # the server ended the watch: resume from rv


def _named(obj: Obj, names: list[str], as_table: bool) -> bool:
    if as_table:
        rows = obj.get("rows") or []
        return any(
            ((r.get("object") or {}).get("metadata") or {}).get("name") in names for r in rows
        )
    return (obj.get("metadata") or {}).get("name") in names


def _missing(exc: ApiError, args: argparse.Namespace) -> bool:
    """Report a name that does not exist (unless told not to); True when it is a failure."""
    if args.ignore_not_found:
        return False
    report(exc)
    return True
