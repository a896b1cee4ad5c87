"""Entry point of the ``shoal`` command: builds the parser and runs one command.

``main`` is what the ``shoal`` console script calls. ``shoal up`` is declared by
``shoal.cli.up`` (``add_arguments(parser)`` and ``run(args) -> int``), which is imported
only when the command line names it, so the other commands start fast and keep working
even if it cannot be imported. Every other command comes from ``shoal.cli.commands``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from shoal.cli.commands import GROUPS
from shoal.cli.context import Subcommands, add_global_options


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoal", description="Knative Serving and Eventing on one machine."
    )
    add_global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _register_up(commands, [common], load="up" in argv)
    for register in GROUPS:
        register(commands, [common])
    return parser


def _register_up(
    commands: Subcommands, parents: list[argparse.ArgumentParser], *, load: bool
) -> None:
    # ``up`` declares its own ``--data-dir``; its flags win over the global ones.
    parser = commands.add_parser(
        "up",
        parents=parents,
        conflict_handler="resolve",
        help="run Shoal on this machine (API server, controllers, data plane)",
    )
    if not load:
        return
    try:
        up = importlib.import_module("shoal.cli.up")
    except ImportError as exc:
        reason = str(exc)

        def unavailable(args: argparse.Namespace) -> int:
            print(f"error: shoal up is not available: {reason}", file=sys.stderr)
            return 1

        parser.set_defaults(handler=unavailable, takes_any_arguments=True)
        return
    up.add_arguments(parser)
    parser.set_defaults(handler=up.run)


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(args_in)
    try:
        args, extra = parser.parse_known_args(args_in)
        if extra and not getattr(args, "takes_any_arguments", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help, or a usage error argparse has printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        # the reader went away (`shoal get … | head`): stop quietly, as kubectl does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
