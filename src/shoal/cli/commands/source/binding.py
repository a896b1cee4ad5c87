"""``shoal source binding``: SinkBindings with kn's flags.

``--subject KIND:APIVERSION:NAME`` binds one object, ``KIND:APIVERSION:KEY=VALUE[,...]``
every object whose labels match (``Service:serving.knative.dev/v1:hello``,
``Service:serving.knative.dev/v1:app=shop``). Shoal binds Knative Services.
"""

from __future__ import annotations

import argparse

from shoal.api.catalog import default_catalog
from shoal.cli.commands.source.verbs import SourceKind, parse_selector, register_kind
from shoal.cli.context import Subcommands
from shoal.cli.errors import CliError
from shoal.cli.serviceflags import bad
from shoal.client.base import Obj


def add_options(parser: argparse.ArgumentParser, updating: bool) -> None:
    parser.add_argument("--subject", metavar="KIND:APIVERSION:NAME|SELECTOR",
                        help="what to bind: Service:serving.knative.dev/v1:hello, or "
                        "Service:serving.knative.dev/v1:app=shop for every match")


def parse_subject(text: str, namespace: str) -> Obj:
    kind, _, rest = text.partition(":")
    api_version, _, target = rest.partition(":")
    if not kind or not api_version or not target:
        raise bad("--subject", text, "expected KIND:APIVERSION:NAME or "
                  "KIND:APIVERSION:KEY=VALUE[,KEY=VALUE]")
    subject: Obj = {"apiVersion": api_version, "kind": kind, "namespace": namespace}
    if "=" in target:
        subject["selector"] = parse_selector(target, "--subject", text)
    else:
        subject["name"] = target
    return subject


def edit_spec(args: argparse.Namespace, spec: Obj, ns: str) -> None:
    if args.subject is not None:
        spec["subject"] = parse_subject(args.subject, ns)
    elif "subject" not in spec:
        raise CliError("give the --subject to bind, e.g. Service:serving.knative.dev/v1:hello")


def subject_text(obj: Obj) -> str:
    subject = (obj.get("spec") or {}).get("subject") or {}
    target = subject.get("name") or ",".join(
        f"{k}={v}" for k, v in ((subject.get("selector") or {}).get("matchLabels") or {}).items())
    return f"{subject.get('kind', '')}:{subject.get('apiVersion', '')}:{target}"


KIND = SourceKind(default_catalog().require("sinkbindings"), "Sink binding", add_options,
                  edit_spec, subject_text, "SUBJECT")


def register(kinds: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    register_kind(kinds, parents, "binding", KIND,
                  help="manage sink bindings: K_SINK for the Services they name")
