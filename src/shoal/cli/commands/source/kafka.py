"""``shoal source kafka``: KafkaSources with ``kn source kafka``'s flags.

``--servers`` and ``--topics`` (required on create; repeatable, or comma lists),
``--consumergroup`` (create only: the group cannot change), ``--initial-offset``, and
``-l/--label``, ``-a/--annotation`` on create (e.g.
``kafkasources.sources.knative.dev/key-type=int``); the server fills in Knative's defaults
(a generated consumer group, ``latest``, one consumer). ``list`` shows TOPICS and
BOOTSTRAPSERVERS; ``describe`` the servers, topics, group, offset and delivery.
"""

from __future__ import annotations

import argparse

from shoal.api.catalog import default_catalog
from shoal.api.sources.kafka import OFFSETS
from shoal.cli.commands.source.verbs import SourceKind, register_kind, split_list
from shoal.cli.context import Subcommands
from shoal.cli.errors import CliError
from shoal.client.base import Obj


def add_options(parser: argparse.ArgumentParser, updating: bool) -> None:
    required = "" if updating else "; required"
    parser.add_argument("--servers", action="append", metavar="HOST:PORT",
                        help="Kafka bootstrap servers (repeatable, or a comma list)" + required)
    parser.add_argument("--topics", action="append", metavar="TOPIC",
                        help="topics to consume (repeatable, or a comma list)" + required)
    if not updating:
        parser.add_argument("--consumergroup", metavar="GROUP",
                            help="the consumer group ID (default: a generated one)")
    parser.add_argument("--initial-offset", choices=OFFSETS,
                        help="where a new consumer group starts (default latest)")


def edit_spec(args: argparse.Namespace, spec: Obj, ns: str) -> None:
    lists = (("--servers", "bootstrapServers", split_list(args.servers)),
             ("--topics", "topics", split_list(args.topics)))
    missing = [flag for flag, key, value in lists if not value and key not in spec]
    if missing:
        raise CliError(f"required flag(s) {', '.join(missing)} not set")
    for _, key, value in lists:
        if value:
            spec[key] = value
    if getattr(args, "consumergroup", None):
        spec["consumerGroup"] = args.consumergroup
    if args.initial_offset:
        spec["initialOffset"] = args.initial_offset


def topics_text(obj: Obj) -> str:
    return ",".join((obj.get("spec") or {}).get("topics") or [])


def servers_text(obj: Obj) -> str:
    return ",".join((obj.get("spec") or {}).get("bootstrapServers") or [])


def details(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    rows: Obj = {"bootstrapServers": ", ".join(spec.get("bootstrapServers") or []),
                 "topics": ", ".join(spec.get("topics") or []),
                 "consumerGroup": spec.get("consumerGroup") or "<none>",
                 "initialOffset": spec.get("initialOffset") or "<none>"}
    if spec.get("delivery"):
        rows["delivery"] = spec["delivery"]
    return rows


KIND = SourceKind(default_catalog().require("kafkasources"), "Kafka source", add_options,
                  edit_spec, topics_text, "TOPICS",
                  more_columns=(("BOOTSTRAPSERVERS", servers_text),), details=details,
                  metadata_flags=True, noun="Kafka source")


def register(kinds: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    register_kind(kinds, parents, "kafka", KIND,
                  help="manage Kafka sources: the records of Kafka topics sent to a sink as "
                  "CloudEvents")
