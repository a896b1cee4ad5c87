"""``shoal filter eval``: evaluate a CESQL expression against an event, here and now.

For writing and checking a Trigger's ``--cesql`` filter without a broker: the event is a
CloudEvents JSON file (``--event FILE``, ``-`` for stdin) and/or attributes given as
``--attr NAME=VALUE`` (strings, as the binary HTTP mode carries them; they add to or
override the file's). The command prints the value in CESQL's literal form, its type,
whether a Trigger's ``cesql`` filter would pass the event (true, and no error), and every
evaluation error as ``error: <kind>: <message>``; it exits 0 whatever the value. An
expression that does not parse is reported with its position, and exits 1. Nothing here
talks to the API server.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shoal.cesql import CesqlParseError, EvalResult, parse
from shoal.cesql.values import Value, type_of
from shoal.cli.context import Subcommands
from shoal.cli.errors import CliError


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "filter",
        help="try out event filters",
        description="Try out Trigger filters locally.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    evaluate = verbs.add_parser(
        "eval",
        parents=parents,
        help="evaluate a CESQL expression against an event",
        description="Evaluate a CloudEvents SQL expression against an event given as a "
        "CloudEvents JSON file or as attributes, and print the value, its type and errors.",
    )
    evaluate.add_argument("--cesql", required=True, metavar="EXPR", help="the expression")
    evaluate.add_argument(
        "--event", metavar="FILE", help="a CloudEvent in the JSON format ('-': stdin)"
    )
    evaluate.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an attribute of the event (repeatable; overrides the file's)",
    )
    evaluate.set_defaults(handler=run_eval)


def literal(value: Value) -> str:
    """A CESQL value as CESQL writes it: ``true``, ``42``, ``'text'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def event_attributes(document: Any) -> dict[str, Any]:
    """The attributes of a CloudEvent in the JSON format (everything but its data)."""
    if not isinstance(document, dict):
        raise CliError("--event: a CloudEvent in the JSON format is a JSON object")
    return {k: v for k, v in document.items() if k not in ("data", "data_base64")}


def parse_attrs(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise CliError(f"invalid value {text!r} for --attr: expected NAME=VALUE")
        out[name] = value
    return out


def result_lines(result: EvalResult) -> list[str]:
    """What ``filter eval`` prints for an evaluation."""
    passes = result.value is True and not result.errors
    lines = [
        f"value: {literal(result.value)}",
        f"type: {type_of(result.value).value}",
        f"match: {'true' if passes else 'false'}",
    ]
    lines += [f"error: {err.kind}: {err.message}" for err in result.errors]
    return lines


def parse_error_lines(expression: str, err: CesqlParseError) -> list[str]:
    """A parse error, and under a one-line expression a caret at the position."""
    lines = [f"error: {err.kind}: {err.message}"]
    if err.position is not None and "\n" not in expression:
        lines += [f"  {expression}", "  " + " " * err.position + "^"]
    return lines


def _read_event(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read --event {path!r}: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f"--event {path!r} is not JSON: {exc}") from None


def evaluate(expression: str, attributes: dict[str, Any]) -> tuple[int, list[str]]:
    """Exit status and output lines of ``filter eval`` (a parse error goes to stderr)."""
    try:
        parsed = parse(expression)
    except CesqlParseError as err:
        return 1, parse_error_lines(expression, err)
    return 0, result_lines(parsed.evaluate(attributes))


def run_eval(args: argparse.Namespace) -> int:
    try:
        attributes: dict[str, Any] = {}
        if args.event:
            attributes.update(event_attributes(_read_event(args.event)))
        attributes.update(parse_attrs(args.attr))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    status, lines = evaluate(args.cesql, attributes)
    print("\n".join(lines), file=sys.stderr if status else sys.stdout)
    return status
