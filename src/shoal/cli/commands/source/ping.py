"""``shoal source ping``: PingSources with kn's flags.

``--schedule`` (cron, five fields or six with seconds first; the server's default is every
minute), ``--timezone`` (IANA), ``--data`` with ``--encoding text`` (``spec.data``) or
``base64`` (``spec.dataBase64``, given already encoded).
"""

from __future__ import annotations

import argparse

from shoal.api.catalog import default_catalog
from shoal.cli.commands.source.verbs import SourceKind, register_kind
from shoal.cli.context import Subcommands
from shoal.client.base import Obj

ENCODINGS = ("text", "base64")


def add_options(parser: argparse.ArgumentParser, updating: bool) -> None:
    parser.add_argument("--schedule", metavar="CRON",
                        help="when to send: a cron schedule, e.g. '*/2 * * * *', with an "
                        "optional seconds field first, or @hourly, @daily, ...")
    parser.add_argument("--timezone", metavar="ZONE",
                        help="the IANA time zone the schedule is read in (default UTC)")
    parser.add_argument("-d", "--data", metavar="DATA", help="the payload of every event")
    parser.add_argument("--encoding", choices=ENCODINGS,
                        help="text (the default) or base64 (DATA is base64 already)")


def edit_spec(args: argparse.Namespace, spec: Obj, ns: str) -> None:
    for flag, key in (("schedule", "schedule"), ("timezone", "timezone")):
        value = getattr(args, flag)
        if value is not None:
            spec[key] = value
    if args.data is not None:
        base64 = args.encoding == "base64"
        spec.pop("data" if base64 else "dataBase64", None)
        spec["dataBase64" if base64 else "data"] = args.data
    elif args.encoding is not None:  # the same data, moved to the other field
        text = spec.pop("data", None) or spec.pop("dataBase64", None)
        if text is not None:
            spec["dataBase64" if args.encoding == "base64" else "data"] = text


def schedule_text(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    zone = spec.get("timezone")
    return str(spec.get("schedule") or "") + (f" ({zone})" if zone else "")


KIND = SourceKind(default_catalog().require("pingsources"), "Ping source", add_options,
                  edit_spec, schedule_text, "SCHEDULE")


def register(kinds: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    register_kind(kinds, parents, "ping", KIND, help="manage ping sources: events on a schedule")
