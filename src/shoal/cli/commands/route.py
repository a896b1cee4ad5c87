"""``shoal route list|describe``: kn's route verbs.

A Service owns a Route of its own name; these show what the Route reconciler made of it.
``list`` prints kn's columns (NAME URL READY); ``describe`` the Route's URL, its Service,
its traffic targets as resolved in its status (percent, ``@latest (REVISION)`` for targets
that follow the latest ready revision, ``#tag`` with the tag's own URL; the targets of the
spec while the status has none yet) and its conditions.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.serving import keys
from shoal.cli.commands.broker import print_document, table_lines
from shoal.cli.commands.revision import (
    attribute_lines,
    condition_lines,
    metadata_rows,
    ready_condition,
)
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.printers import as_list, typed
from shoal.client.base import Obj
from shoal.client.rest import RestClient

ROUTES = default_catalog().require("routes")
OUTPUTS = ("yaml", "json")


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "route",
        help="show routes (list, describe)",
        description="Show routes: the named splits of traffic among revisions.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    listing = verbs.add_parser("list", aliases=["ls"], parents=parents, help="list routes")
    listing.add_argument("name", nargs="?", metavar="NAME", help="only this route")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(run_list))

    describe = verbs.add_parser("describe", parents=parents, help="show a route")
    describe.add_argument("name", metavar="NAME")
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.add_argument(
        "-v", "--verbose", action="store_true", help="more: annotations, condition messages"
    )
    describe.set_defaults(handler=api_command(run_describe))


def route_url(route: Obj) -> str:
    return str((route.get("status") or {}).get("url") or "")


def list_lines(routes: list[Obj], all_namespaces: bool) -> list[str]:
    rows = [
        [r["metadata"]["name"], route_url(r), str(ready_condition(r).get("status") or "Unknown")]
        for r in routes
    ]
    return table_lines(["NAME", "URL", "READY"], rows, routes, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    ns = None if args.all_namespaces else namespace(args)
    routes = [typed(ROUTES, r) for r in (await client.list(ROUTES, ns)).items]
    if args.name:
        routes = [r for r in routes if r["metadata"]["name"] == args.name]
    if args.output:
        print_document(as_list(routes), args.output)
    elif not routes:
        print("No routes found.")
    else:
        print("\n".join(list_lines(routes, args.all_namespaces)))
    return 0


def target_lines(targets: list[Any]) -> list[str]:
    """``  100%  @latest (hello-00001)``, ``    0%  hello-00001 #v1`` and tag URLs."""
    lines = ["Traffic Targets:"]
    for target in targets:
        if not isinstance(target, dict):
            continue
        revision = str(target.get("revisionName") or "")
        if target.get("latestRevision"):
            ref = f"@latest ({revision})" if revision else "@latest"
        else:
            ref = revision or str(target.get("configurationName") or "")
        if target.get("tag"):
            ref += f" #{target['tag']}"
        lines.append(f"  {int(target.get('percent') or 0):3d}%  {ref}")
        if target.get("url"):
            lines += attribute_lines([("URL", str(target["url"]))], indent=8)
    return lines


def describe_text(route: Obj, now: datetime, *, verbose: bool = False) -> str:
    """``route describe``: URL, Service, traffic targets and conditions."""
    rows = metadata_rows(route, now, verbose=verbose)
    rows.append(("URL", route_url(route)))
    service = ((route.get("metadata") or {}).get("labels") or {}).get(keys.SERVICE_LABEL)
    if service:
        rows.append(("Service", str(service)))
    status = route.get("status") or {}
    targets = status.get("traffic") or (route.get("spec") or {}).get("traffic") or []
    lines = [*attribute_lines(rows), "", *target_lines(targets), ""]
    lines += condition_lines(status, now, verbose=verbose)
    return "\n".join(lines) + "\n"


async def run_describe(args: argparse.Namespace, client: RestClient) -> int:
    route = typed(ROUTES, await client.get(ROUTES, args.name, namespace(args)))
    if args.output:
        print_document(route, args.output)
        return 0
    sys.stdout.write(describe_text(route, datetime.now(UTC), verbose=args.verbose))
    return 0
