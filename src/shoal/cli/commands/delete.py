"""``shoal delete KIND NAME...``: delete objects by name, by file, by label or all of a kind.

Prints ``service.serving.knative.dev "hello" deleted`` for each. ``--cascade`` picks what
happens to the objects it owns (``background``, the default, deletes them after it;
``foreground`` deletes them first; ``orphan`` leaves them). A name that does not exist is
reported as kubectl does and makes the exit status 1, unless ``--ignore-not-found``.
"""

from __future__ import annotations

import argparse
import sys

from shoal.api.errors import ApiError, NotFound
from shoal.api.types import ResourceType
from shoal.cli import manifests
from shoal.cli.context import (
    Subcommands,
    add_namespace_options,
    api_command,
    namespace,
    report,
    targets,
)
from shoal.cli.errors import CliError
from shoal.cli.printers import no_resources, quoted_ref
from shoal.client.base import Propagation
from shoal.client.rest import RestClient

CASCADE: dict[str, Propagation] = {
    "background": "Background",
    "true": "Background",
    "foreground": "Foreground",
    "orphan": "Orphan",
    "false": "Orphan",
}


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "delete",
        parents=parents,
        help="delete objects",
        description="Delete objects by KIND and NAME (or KIND/NAME), by the files that "
        "declare them (-f), by label (-l) or all of a kind (--all).",
    )
    parser.add_argument("kind", nargs="?", metavar="KIND", help="kind, or KIND/NAME")
    parser.add_argument("names", nargs="*", metavar="NAME")
    manifests.add_file_options(parser, required=False)
    add_namespace_options(parser)
    parser.add_argument(
        "--all", action="store_true", help="every object of the kind in the namespace"
    )
    parser.add_argument(
        "-l",
        "--selector",
        default="",
        metavar="SELECTOR",
        help="delete the objects with these labels",
    )
    parser.add_argument(
        "--cascade",
        default="background",
        choices=sorted(CASCADE),
        help="what becomes of the objects it owns (default background)",
    )
    parser.add_argument(
        "--ignore-not-found",
        action="store_true",
        help="say nothing about objects that do not exist",
    )
    parser.add_argument(
        "--dry-run",
        nargs="?",
        const="server",
        default="none",
        choices=("none", "server"),
        help="only check with the server, delete nothing",
    )
    parser.set_defaults(handler=api_command(run))


async def run(args: argparse.Namespace, client: RestClient) -> int:
    work: list[tuple[ResourceType, str, str]] = []
    failed = False
    if args.filename:
        if args.kind:
            raise CliError("give either -f or KIND NAME..., not both")
        for doc in manifests.read(args.filename, recursive=args.recursive):
            try:
                rt, body = manifests.resolve(doc, args.namespace)
            except CliError as exc:
                report(exc)
                failed = True
                continue
            work.append((rt, body["metadata"]["name"], body["metadata"].get("namespace", "")))
    else:
        ns = namespace(args)
        if not args.kind:
            raise CliError("give KIND NAME..., KIND/NAME... or -f FILE")
        for rt, names in targets([args.kind, *args.names]):
            if names and (args.all or args.selector):
                raise CliError("name cannot be provided when a selector or --all is specified")
            if not names:
                if not (args.all or args.selector):
                    raise CliError("resource(s) were provided, but no name was specified")
                listed = await client.list(
                    rt, ns if rt.namespaced else None, label_selector=args.selector
                )
                if not listed.items:
                    print(no_resources(ns, rt.namespaced), file=sys.stderr)
                names = [item["metadata"]["name"] for item in listed.items]
            work += [(rt, name, ns) for name in names]
    suffix = " (server dry run)" if args.dry_run == "server" else ""
    for rt, name, ns in work:
        try:
            await client.delete(
                rt, name, ns, propagation=CASCADE[args.cascade], dry_run=args.dry_run == "server"
            )
        except NotFound as exc:
            if not args.ignore_not_found:
                report(exc)
                failed = True
            continue
        except ApiError as exc:
            report(exc)
            failed = True
            continue
        print(f"{quoted_ref(rt, name)} deleted{suffix}", flush=True)
    return 1 if failed else 0
