"""``shoal source nats``: NatsSources with kn-style flags.

``--subject`` (required on create), ``--servers`` (a comma-separated string or repeated;
the server defaults them from ``config-nats``), ``--queue-group``, and ``--stream`` with
``--consumer`` and ``--deliver-policy`` for JetStream (the server names the durable
consumer when it is not given). ``list`` shows the SUBJECT; ``describe`` the servers,
subject, queue group and JetStream settings.
"""

from __future__ import annotations

import argparse

from shoal.api.catalog import default_catalog
from shoal.api.sources.nats import server_list
from shoal.cli.commands.source.verbs import SourceKind, register_kind, split_list
from shoal.cli.context import Subcommands
from shoal.cli.errors import CliError
from shoal.client.base import Obj

DELIVER_POLICIES = ("all", "new", "last")


def add_options(parser: argparse.ArgumentParser, updating: bool) -> None:
    parser.add_argument("--servers", action="append", metavar="URLS",
                        help="NATS server URLs, comma-separated or repeated "
                        "(default: url of config-nats)")
    parser.add_argument("--subject", required=not updating,
                        help="subject to read; * matches one token, > the rest")
    parser.add_argument("--queue-group", metavar="GROUP",
                        help="share the subject's messages within this queue group")
    parser.add_argument("--stream", help="read through this JetStream stream")
    parser.add_argument("--consumer", metavar="DURABLE",
                        help="the durable consumer's name (with --stream)")
    parser.add_argument("--deliver-policy", choices=DELIVER_POLICIES,
                        help="where a new durable consumer starts (with --stream)")


def edit_spec(args: argparse.Namespace, spec: Obj, ns: str) -> None:
    if args.servers:
        spec["servers"] = split_list(args.servers)
    if args.subject:
        spec["subject"] = args.subject
    if args.queue_group is not None:
        spec["queueGroup"] = args.queue_group
    jetstream: Obj = dict(spec.get("jetstream") or {})
    for flag, key in (("stream", "stream"), ("consumer", "consumer"),
                      ("deliver_policy", "deliverPolicy")):
        if getattr(args, flag):
            jetstream[key] = getattr(args, flag)
    if jetstream and "stream" not in jetstream:
        raise CliError("--consumer and --deliver-policy need --stream")
    if jetstream:
        spec["jetstream"] = jetstream


def subject_text(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("subject") or "")


def details(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    rows: Obj = {"servers": ", ".join(server_list(spec.get("servers"))),
                 "subject": spec.get("subject") or ""}
    for key in ("queueGroup", "jetstream"):
        if spec.get(key):
            rows[key] = spec[key]
    return rows


KIND = SourceKind(default_catalog().require("natssources"), "NATS source", add_options,
                  edit_spec, subject_text, "SUBJECT", details=details, noun="NATS source")


def register(kinds: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    register_kind(kinds, parents, "nats", KIND,
                  help="manage NATS sources: the messages of a NATS subject sent to a sink")
