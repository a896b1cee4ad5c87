"""``shoal source KIND VERB``: kn's source commands, one module per kind.

Each kind module (``kafka``, ...) exposes ``register(kinds, parents)``, which adds its
``create|update|list|describe|delete`` verbs under ``kinds``; ``KINDS`` lists them in the
order ``shoal source --help`` shows them.
"""

from __future__ import annotations

import argparse

from shoal.cli.commands.source import kafka
from shoal.cli.context import Subcommands

KINDS = (kafka,)


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "source",
        help="manage event sources (kafka)",
        description="Manage event sources: what brings events into Knative from elsewhere.",
    )
    kinds = group.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind in KINDS:
        kind.register(kinds, parents)
