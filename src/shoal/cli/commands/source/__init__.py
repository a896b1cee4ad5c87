"""``shoal source KIND VERB``: kn's source verbs, one module per source kind.

Each kind module exposes ``register(kinds, parents)``, which adds its kind (``nats``, …)
with its verbs to the ``source`` group's subcommands; ``KINDS`` lists them.
"""

from __future__ import annotations

import argparse

from shoal.cli.commands.source import nats
from shoal.cli.context import Subcommands

KINDS = (nats,)


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "source",
        help="manage event sources (nats)",
        description="Manage event sources: the objects that bring events from outside "
        "into a sink.",
    )
    kinds = group.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind in KINDS:
        kind.register(kinds, parents)
