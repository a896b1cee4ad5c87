"""``shoal kubeconfig``: a kubeconfig for the server in use, so kubectl needs no flags.

``KUBECONFIG=<(shoal kubeconfig) kubectl get ksvc`` talks to the same server with the same
token as ``shoal get ksvc``. Nothing is contacted; the server comes from the global options,
the environment or the running server's ``server.json``.
"""

from __future__ import annotations

import argparse
import sys

from shoal.cli.config import kubeconfig_yaml, load_server
from shoal.cli.context import DEFAULT_NAMESPACE, Subcommands


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "kubeconfig",
        parents=parents,
        help="print a kubeconfig for kubectl",
        description="Print a kubeconfig (YAML) naming this server and its token.",
    )
    parser.add_argument(
        "--context-name",
        default="shoal",
        metavar="NAME",
        help="name of the cluster, user and context (default 'shoal')",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default=DEFAULT_NAMESPACE,
        metavar="NS",
        help="default namespace of the context",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    server = load_server(args)
    sys.stdout.write(kubeconfig_yaml(server.url, server.token, args.context_name, args.namespace))
    return 0
