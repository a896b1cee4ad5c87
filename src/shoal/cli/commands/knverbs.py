"""The ``list``, ``describe`` and ``delete`` verbs the serving groups share, with kn's flags.

``service``, ``revision``, ``route`` and ``domain`` add them through these helpers, so the
flags and messages stay the same everywhere: ``list``/``ls`` with ``-n``, ``-A``, ``-o
yaml|json`` and an optional NAME (its table is the group's own); ``describe NAME`` with
``-o yaml|json`` and ``-v``, printing the group's ``describe_text``; ``delete NAME...``,
which goes on past a name that fails and says ``Revision 'hello-00001' deleted in
namespace 'default'.`` for each one deleted. A group whose verb differs (``service
describe -o url``, ``service delete --all --wait``) keeps its own.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from shoal.api.errors import ApiError
from shoal.api.types import ResourceType
from shoal.cli.commands.broker import print_document
from shoal.cli.context import (
    ApiBody,
    Subcommands,
    add_namespace_options,
    api_command,
    namespace,
    report,
)
from shoal.cli.printers import as_list, typed
from shoal.client.base import Obj
from shoal.client.rest import RestClient

OUTPUTS = ("yaml", "json")


class DescribeText(Protocol):
    def __call__(self, obj: Obj, now: datetime, /, *, verbose: bool = False) -> str: ...


def add_list_parser(verbs: Subcommands, parents: list[argparse.ArgumentParser], title: str,
                    run: ApiBody, *, by_name: bool = True,
                    **options: Any) -> argparse.ArgumentParser:
    """``list``/``ls`` of the ``title`` kind ("Revision"); ``by_name`` adds ``[NAME]``."""
    noun = title.lower()
    listing = verbs.add_parser(
        "list", aliases=["ls"], parents=parents, help=f"list {noun}s", **options)
    if by_name:
        listing.add_argument("name", nargs="?", metavar="NAME", help=f"only this {noun}")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(run))
    return listing


async def list_objects(client: RestClient, rt: ResourceType, args: argparse.Namespace, *,
                       label_selector: str = "") -> list[Obj]:
    """What ``list`` shows: the namespace's objects (all with ``-A``), only NAME if given."""
    ns = None if args.all_namespaces else namespace(args)
    listed = await client.list(rt, ns, label_selector=label_selector)
    items = [typed(rt, o) for o in listed.items]
    name = getattr(args, "name", None)
    if name:
        items = [o for o in items if o["metadata"]["name"] == name]
    return items


def printed_without_table(items: list[Obj], output: str | None, title: str) -> bool:
    """``-o yaml|json`` prints the List, and no items kn's ``No revisions found.``; True
    when one of them did, so the caller prints its table only on False."""
    if output:
        print_document(as_list(items), output)
    elif not items:
        print(f"No {title.lower()}s found.")
    else:
        return False
    return True


def add_describe_parser(verbs: Subcommands, parents: list[argparse.ArgumentParser],
                        rt: ResourceType, title: str, text: DescribeText, *,
                        metavar: str = "NAME") -> None:
    """``describe NAME`` with ``-o yaml|json`` and ``-v``; ``text`` lays the object out."""
    describe = verbs.add_parser("describe", parents=parents, help=f"show a {title.lower()}")
    describe.add_argument("name", metavar=metavar)
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.add_argument(
        "-v", "--verbose", action="store_true", help="more: annotations, condition messages"
    )
    describe.set_defaults(handler=api_command(partial(run_describe, rt, text)))


async def run_describe(rt: ResourceType, text: DescribeText, args: argparse.Namespace,
                       client: RestClient) -> int:
    obj = typed(rt, await client.get(rt, args.name, namespace(args)))
    if args.output:
        print_document(obj, args.output)
        return 0
    sys.stdout.write(text(obj, datetime.now(UTC), verbose=args.verbose))
    return 0


def add_delete_parser(verbs: Subcommands, parents: list[argparse.ArgumentParser],
                      rt: ResourceType, title: str, *, metavar: str = "NAME") -> None:
    """``delete NAME...``."""
    delete = verbs.add_parser("delete", parents=parents, help=f"delete {title.lower()}s")
    delete.add_argument("names", nargs="+", metavar=metavar)
    add_namespace_options(delete)
    delete.set_defaults(handler=api_command(partial(run_delete, rt, title)))


async def run_delete(rt: ResourceType, title: str, args: argparse.Namespace,
                     client: RestClient) -> int:
    """Deletes each name in turn; one that fails is reported and makes the status 1."""
    ns = namespace(args)
    failed = False
    for name in args.names:
        try:
            await client.delete(rt, name, ns)
        except ApiError as exc:
            report(exc)
            failed = True
            continue
        print(f"{title} '{name}' deleted in namespace '{ns}'.", flush=True)
    return 1 if failed else 0
