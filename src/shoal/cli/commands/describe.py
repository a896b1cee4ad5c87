"""``shoal describe KIND [NAME...]``: an object, its conditions and its events, for people.

Fetches each object (every object of the kind when no name is given, ``-l`` to filter)
and the core ``v1`` Events whose ``involvedObject`` is that object (by uid), and prints
the layout of ``shoal.cli.describer``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from shoal.api.catalog import default_catalog
from shoal.api.errors import ApiError, NotFound
from shoal.cli.context import (
    DEFAULT_NAMESPACE,
    Subcommands,
    add_namespace_options,
    api_command,
    namespace,
    report,
    targets,
)
from shoal.cli.describer import describe
from shoal.cli.printers import no_resources, typed
from shoal.client.base import Obj
from shoal.client.rest import RestClient


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "describe",
        parents=parents,
        help="show an object, its conditions and events",
        description="Show objects in a human-readable form, with their status conditions "
        "and the Events about them.",
    )
    parser.add_argument("kind", metavar="KIND", help="kind, or KIND/NAME")
    parser.add_argument("names", nargs="*", metavar="NAME")
    add_namespace_options(parser)
    parser.add_argument(
        "-l",
        "--selector",
        default="",
        metavar="SELECTOR",
        help="label selector, when no name is given",
    )
    parser.set_defaults(handler=api_command(run))


async def run(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    failed = False
    first = True
    for rt, names in targets([args.kind, *args.names]):
        objects: list[Obj] = []
        if names:
            for name in names:
                try:
                    objects.append(await client.get(rt, name, ns))
                except NotFound as exc:
                    report(exc)
                    failed = True
        else:
            objects = (
                await client.list(rt, ns if rt.namespaced else None, label_selector=args.selector)
            ).items
            if not objects:
                print(no_resources(ns, rt.namespaced), file=sys.stderr)
        for obj in objects:
            text = describe(typed(rt, obj), await events_of(client, obj), datetime.now(UTC))
            sys.stdout.write(("" if first else "\n\n") + text)
            first = False
    return 1 if failed else 0


async def events_of(client: RestClient, obj: Obj) -> list[Obj]:
    """The core Events about ``obj``: same uid, or same kind and name when they carry none."""
    events_type = default_catalog().by_kind("v1", "Event")
    if events_type is None:
        return []
    meta = obj.get("metadata") or {}
    try:
        listed = await client.list(events_type, meta.get("namespace") or DEFAULT_NAMESPACE)
    except ApiError:
        return []
    uid, kind, name = meta.get("uid"), obj.get("kind"), meta.get("name")
    out = []
    for event in listed.items:
        ref = event.get("involvedObject") or {}
        if ref.get("uid"):
            about = ref["uid"] == uid
        else:
            about = ref.get("kind") == kind and ref.get("name") == name
        if about:
            out.append(event)
    return out
