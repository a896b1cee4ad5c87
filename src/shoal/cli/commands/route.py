"""``shoal route list|describe``: kn's route verbs.

A Service owns a Route of its own name; these show what the Route reconciler made of it.
``list`` prints kn's columns (NAME URL READY); ``describe`` the Route's URL, its Service,
its traffic targets as resolved in its status (percent, ``@latest (REVISION)`` for targets
that follow the latest ready revision, ``#tag`` with the tag's own URL; the targets of the
spec while the status has none yet) and its conditions.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.serving import keys
from shoal.cli.commands.broker import table_lines
from shoal.cli.commands.knverbs import (
    add_describe_parser,
    add_list_parser,
    list_objects,
    printed_without_table,
)
from shoal.cli.commands.revision import (
    attribute_lines,
    condition_lines,
    metadata_rows,
    ready_condition,
)
from shoal.cli.context import Subcommands
from shoal.client.base import Obj
from shoal.client.rest import RestClient

ROUTES = default_catalog().require("routes")


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "route",
        help="show routes (list, describe)",
        description="Show routes: the named splits of traffic among revisions.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    add_list_parser(verbs, parents, "Route", run_list)
    add_describe_parser(verbs, parents, ROUTES, "Route", describe_text)


def route_url(route: Obj) -> str:
    return str((route.get("status") or {}).get("url") or "")


def list_lines(routes: list[Obj], all_namespaces: bool) -> list[str]:
    rows = [
        [r["metadata"]["name"], route_url(r), str(ready_condition(r).get("status") or "Unknown")]
        for r in routes
    ]
    return table_lines(["NAME", "URL", "READY"], rows, routes, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    routes = await list_objects(client, ROUTES, args)
    if not printed_without_table(routes, args.output, "Route"):
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
