"""``shoal source apiserver``: ApiServerSources with kn's flags.

``--resource KIND:APIVERSION[:SELECTOR]`` (repeatable; ``Event:v1``,
``Service:serving.knative.dev/v1:app=shop``; the selector is ``key=value`` pairs joined by
commas), ``--mode Reference|Resource``, ``--service-account`` (kept, not used by Shoal),
``--owner KIND:APIVERSION``. On update, ``--resource`` replaces the list.
"""

from __future__ import annotations

import argparse

from shoal.api.catalog import default_catalog
from shoal.api.sources.apiserver import MODES
from shoal.cli.commands.source.verbs import SourceKind, parse_selector, register_kind
from shoal.cli.context import Subcommands
from shoal.cli.errors import CliError
from shoal.cli.serviceflags import bad
from shoal.client.base import Obj


def add_options(parser: argparse.ArgumentParser, updating: bool) -> None:
    parser.add_argument("--resource", dest="resources", action="append", default=[],
                        metavar="KIND:APIVERSION[:SELECTOR]",
                        help="a kind to watch, e.g. Event:v1 or ConfigMap:v1:app=shop "
                        "(repeatable" + ("; replaces the list)" if updating else ")"))
    parser.add_argument("--mode", choices=MODES,
                        help="Reference (the default) sends a reference to the object, "
                        "Resource the whole object")
    parser.add_argument("--service-account", metavar="NAME",
                        help="the ServiceAccount to run as (kept; Shoal needs none)")
    parser.add_argument("--owner", metavar="KIND:APIVERSION",
                        help="only objects with an owner of this kind")


def parse_resource(text: str) -> Obj:
    kind, _, rest = text.partition(":")
    api_version, _, selector = rest.partition(":")
    if not kind or not api_version:
        raise bad("--resource", text, "expected KIND:APIVERSION[:SELECTOR], e.g. Event:v1")
    resource: Obj = {"apiVersion": api_version, "kind": kind}
    if selector:
        resource["selector"] = parse_selector(selector, "--resource", text)
    return resource


def parse_owner(text: str) -> Obj:
    kind, sep, api_version = text.partition(":")
    if not sep or not kind or not api_version or ":" in api_version:
        raise bad("--owner", text, "expected KIND:APIVERSION, e.g. Service:serving.knative.dev/v1")
    return {"apiVersion": api_version, "kind": kind}


def edit_spec(args: argparse.Namespace, spec: Obj, ns: str) -> None:
    if args.resources:
        spec["resources"] = [parse_resource(text) for text in args.resources]
    elif "resources" not in spec:
        raise CliError("give at least one --resource, e.g. --resource Event:v1")
    if args.mode is not None:
        spec["mode"] = args.mode
    if args.service_account is not None:
        spec["serviceAccountName"] = args.service_account
    if args.owner is not None:
        spec["owner"] = parse_owner(args.owner)


def resources_text(obj: Obj) -> str:
    out = []
    for res in (obj.get("spec") or {}).get("resources") or []:
        text = f"{res.get('kind', '')}:{res.get('apiVersion', '')}"
        labels = (res.get("selector") or {}).get("matchLabels") or {}
        if labels:
            text += ":" + ",".join(f"{k}={v}" for k, v in labels.items())
        out.append(text)
    return " ".join(out)


KIND = SourceKind(default_catalog().require("apiserversources"), "ApiServer source",
                  add_options, edit_spec, resources_text, "RESOURCES")


def register(kinds: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    register_kind(kinds, parents, "apiserver", KIND,
                  help="manage API server sources: changes to API objects as events")
