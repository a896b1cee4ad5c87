"""What every API command shares: global options, the client, names of kinds, the edge.

Command modules call ``add_namespace_options`` for ``-n``/``-A``, ``resolve_kind`` and
``targets`` to turn ``ksvc hello`` or ``ksvc/hello`` into resource types, and wrap their
``async`` body with ``api_command``, which builds the ``RestClient`` from the global options
(``--server``, ``--token``, ``--data-dir``, ``--request-timeout``), runs the body, prints
any error the way kubectl does and turns it into exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from shoal.api.catalog import default_catalog
from shoal.api.errors import ApiError
from shoal.api.types import ResourceType
from shoal.cli.config import load_server
from shoal.cli.errors import CliError, format_error
from shoal.client.rest import RestClient

DEFAULT_NAMESPACE = "default"
ApiBody = Callable[[argparse.Namespace, RestClient], Awaitable[int]]
Handler = Callable[[argparse.Namespace], int]
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes, before or after its name.

    On subcommands they default to ``SUPPRESS`` so that a value given before the command
    name (``shoal --server URL get ksvc``) is not overwritten by the subcommand's default.
    """
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("global options")
    group.add_argument(
        "-s",
        "--server",
        default=default,
        metavar="URL",
        help="API server URL (else $SHOAL_SERVER, else the running server's "
        "server.json, else http://127.0.0.1:8090)",
    )
    group.add_argument(
        "--token", default=default, help="bearer token (else $SHOAL_TOKEN, else server.json's)"
    )
    group.add_argument(
        "--data-dir",
        default=default,
        metavar="DIR",
        help="data directory of shoal up (else $SHOAL_DATA_DIR, else ~/.shoal)",
    )
    group.add_argument(
        "--request-timeout",
        default=default,
        metavar="DURATION",
        type=parse_duration,
        help="give up on a request after this long (e.g. 30s, 2m); ends get --watch too",
    )


def add_namespace_options(parser: argparse.ArgumentParser, *, all_namespaces: bool = False) -> None:
    parser.add_argument(
        "-n",
        "--namespace",
        metavar="NS",
        help=f"namespace of the objects (default {DEFAULT_NAMESPACE!r})",
    )
    if all_namespaces:
        parser.add_argument(
            "-A", "--all-namespaces", action="store_true", help="objects of every namespace"
        )


def namespace(args: argparse.Namespace) -> str:
    return getattr(args, "namespace", None) or DEFAULT_NAMESPACE


def parse_duration(text: str) -> float:
    """``30``, ``30s``, ``500ms``, ``2m``, ``1h`` as seconds (kubectl's --request-timeout)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 30s, 2m)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def resolve_kind(name: str) -> ResourceType:
    """A resource type as the user names it: ``ksvc``, ``services``, ``cm``, ``svc.group``."""
    rt = default_catalog().resolve(name)
    if rt is None:
        raise CliError(f'the server doesn\'t have a resource type "{name}"')
    return rt


def targets(words: list[str]) -> list[tuple[ResourceType, list[str]]]:
    """``KIND[,KIND...] [NAME...]`` or ``KIND/NAME...`` as (type, names) groups, in order."""
    if not words:
        raise CliError("you must specify the type of resource")
    if "/" not in words[0]:
        if any("/" in w for w in words[1:]):
            raise CliError(
                "there is no need to specify a resource type as a separate "
                "argument when passing arguments in resource/name form"
            )
        kinds = [k for k in words[0].split(",") if k]
        return [(resolve_kind(kind), list(words[1:])) for kind in kinds]
    groups: list[tuple[ResourceType, list[str]]] = []
    for word in words:
        kind, sep, name = word.partition("/")
        if not sep or not kind or not name:
            raise CliError(
                f"arguments in resource/name form must have a single resource and name: {word!r}"
            )
        rt = resolve_kind(kind)
        if groups and groups[-1][0] == rt:
            groups[-1][1].append(name)
        else:
            groups.append((rt, [name]))
    return groups


def connect(args: argparse.Namespace) -> RestClient:
    server = load_server(args)
    timeout = getattr(args, "request_timeout", None) or 60.0
    return RestClient(server.url, server.token, on_warning=print_warning, request_timeout=timeout)


def print_warning(text: str) -> None:
    print(f"Warning: {text}", file=sys.stderr)


def report(err: Exception, action: str = "") -> None:
    """Print an error to stderr in kubectl's words."""
    print(format_error(err, action), file=sys.stderr)


def api_command(body: ApiBody) -> Handler:
    """A command handler that runs ``body`` with a connected client; errors exit 1."""

    def run(args: argparse.Namespace) -> int:
        async def with_client() -> int:
            async with connect(args) as client:
                return await body(args, client)

        try:
            return asyncio.run(with_client())
        except (ApiError, CliError) as exc:
            report(exc)
            return 1
        except KeyboardInterrupt:
            return 130

    return run
