"""``shoal source container``: ContainerSources with kn's flags.

``--image`` runs an image (podman or docker); ``--cmd`` with ``--arg`` (repeatable) runs a
local command instead; ``-e/--env KEY=VALUE`` (``KEY-`` removes one on update). The
program finds its sink in ``K_SINK``. On update, ``--arg`` replaces every argument.
"""

from __future__ import annotations

import argparse

from shoal.api.catalog import default_catalog
from shoal.cli.commands.source.verbs import SourceKind, register_kind
from shoal.cli.context import Subcommands
from shoal.cli.errors import CliError
from shoal.cli.serviceflags import parse_pairs
from shoal.client.base import Obj


def add_options(parser: argparse.ArgumentParser, updating: bool) -> None:
    parser.add_argument("--image", metavar="IMAGE", help="the image to run")
    parser.add_argument("--cmd", metavar="CMD",
                        help="a command to run as a local process (with no --image)")
    parser.add_argument("--arg", dest="args", action="append", default=[], metavar="ARG",
                        help="an argument of the command (repeatable; write --arg=--flag "
                        "for one that starts with a dash)")
    parser.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE",
                        help="an environment variable (repeatable"
                        + ("; KEY- removes one)" if updating else ")"))


def _container(spec: Obj) -> Obj:
    template = spec.setdefault("template", {})
    pod = template.setdefault("spec", {})
    containers = pod.setdefault("containers", [{}])
    if not containers:
        containers.append({})
    container: Obj = containers[0]
    return container


def edit_spec(args: argparse.Namespace, spec: Obj, ns: str) -> None:
    creating = "template" not in spec
    if creating and not args.image and not args.cmd:
        raise CliError("give --image, or --cmd to run a local command")
    container = _container(spec)
    if args.image is not None:
        container["image"] = args.image
    if args.cmd is not None:
        container["command"] = [args.cmd]
    if args.args:
        container["args"] = list(args.args)
    if args.env:
        setting, removing = parse_pairs(args.env, "--env")
        env = [dict(e) for e in container.get("env") or [] if e.get("name") not in removing
               and e.get("name") not in setting]
        env.extend({"name": key, "value": value} for key, value in setting.items())
        if env:
            container["env"] = env
        else:
            container.pop("env", None)


def program_text(obj: Obj) -> str:
    containers = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get(
        "containers") or [{}]
    first = containers[0]
    if first.get("image"):
        return str(first["image"])
    return " ".join(str(part) for part in [*(first.get("command") or []),
                                           *(first.get("args") or [])])


KIND = SourceKind(default_catalog().require("containersources"), "Container source",
                  add_options, edit_spec, program_text, "PROGRAM")


def register(kinds: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    register_kind(kinds, parents, "container", KIND,
                  help="manage container sources: programs that send events to a sink")
