"""``shoal domain create|list|describe|delete``: kn's verbs for DomainMappings.

A DomainMapping (``serving.knative.dev/v1beta1``) is named after a host
(``shop.example.com``) and points it at a Knative Service or Route of its namespace.
``--ref`` takes kn's forms: ``NAME`` or ``ksvc:NAME`` for a Service, ``kroute:NAME`` for
a Route (``ksvc:NAME:NAMESPACE`` is accepted, and the server refuses a namespace other than
the mapping's, as Knative does); ``--tls SECRET`` names the secret with its certificate.
``list`` prints kn's columns (NAME URL READY KSVC). Messages are kn's
(``Domain mapping 'shop.example.com' created in namespace 'default'.``).
"""

from __future__ import annotations

import argparse
from datetime import datetime

from shoal.api.catalog import default_catalog
from shoal.cli.commands.broker import table_lines
from shoal.cli.commands.knverbs import (
    add_delete_parser,
    add_describe_parser,
    add_list_parser,
    list_objects,
    printed_without_table,
)
from shoal.cli.commands.revision import (
    attribute_lines,
    condition_lines,
    metadata_rows,
    ready_condition,
)
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.errors import CliError
from shoal.client.base import Obj
from shoal.client.rest import RestClient

DOMAIN_MAPPINGS = default_catalog().require("domainmappings")
SERVICES = default_catalog().require("ksvc")
ROUTES = default_catalog().require("routes")
PREFIXES = {"ksvc": SERVICES, "kroute": ROUTES}


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "domain",
        help="manage domain mappings (create, list, describe, delete)",
        description="Manage domain mappings: hosts of your own for Knative services.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser("create", parents=parents, help="map a host to a service")
    create.add_argument("host", metavar="HOST", help="the host, e.g. shop.example.com")
    create.add_argument(
        "--ref",
        required=True,
        metavar="REF",
        help="where requests for the host go: NAME or ksvc:NAME (a Knative Service), "
        "kroute:NAME (a Route)",
    )
    create.add_argument("--tls", metavar="SECRET", help="the secret holding the certificate")
    add_namespace_options(create)
    create.set_defaults(handler=api_command(run_create))

    add_list_parser(verbs, parents, "Domain mapping", run_list, by_name=False)
    add_describe_parser(verbs, parents, DOMAIN_MAPPINGS, "Domain mapping", describe_text,
                        metavar="HOST")
    add_delete_parser(verbs, parents, DOMAIN_MAPPINGS, "Domain mapping", metavar="HOST")


def parse_ref(text: str, namespace: str) -> Obj:
    """``--ref``: ``NAME``, ``ksvc:NAME``, ``kroute:NAME``, optionally ``:NAMESPACE``."""
    pieces = text.split(":")
    if len(pieces) == 1:
        pieces = ["ksvc", *pieces]
    if len(pieces) > 3 or not all(pieces):
        raise CliError(f"invalid value {text!r} for --ref: expected NAME, ksvc:NAME or kroute:NAME")
    rt = PREFIXES.get(pieces[0])
    if rt is None:
        raise CliError(
            f"invalid value {text!r} for --ref: unknown prefix '{pieces[0]}', use ksvc: or kroute:"
        )
    ref_ns = pieces[2] if len(pieces) == 3 else namespace
    return {"apiVersion": rt.api_version, "kind": rt.kind, "name": pieces[1], "namespace": ref_ns}


def build_mapping(host: str, ref: str, tls: str | None, namespace: str) -> Obj:
    """The DomainMapping ``domain create`` sends."""
    spec: Obj = {"ref": parse_ref(ref, namespace)}
    if tls:
        spec["tls"] = {"secretName": tls}
    return {
        "apiVersion": DOMAIN_MAPPINGS.api_version,
        "kind": DOMAIN_MAPPINGS.kind,
        "metadata": {"name": host, "namespace": namespace},
        "spec": spec,
    }


def ref_text(mapping: Obj) -> str:
    """``ksvc:hello`` or ``kroute:hello``."""
    ref = (mapping.get("spec") or {}).get("ref") or {}
    prefix = {"Service": "ksvc", "Route": "kroute"}.get(str(ref.get("kind")), str(ref.get("kind")))
    return f"{prefix}:{ref.get('name', '')}"


def mapping_url(mapping: Obj) -> str:
    return str((mapping.get("status") or {}).get("url") or "")


async def run_create(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.create(DOMAIN_MAPPINGS, build_mapping(args.host, args.ref, args.tls, ns))
    print(f"Domain mapping '{args.host}' created in namespace '{ns}'.")
    return 0


def list_lines(mappings: list[Obj], all_namespaces: bool) -> list[str]:
    rows = []
    for m in mappings:
        ref = (m.get("spec") or {}).get("ref") or {}
        service = str(ref.get("name", "")) if ref.get("kind") == "Service" else ""
        ready = str(ready_condition(m).get("status") or "Unknown")
        rows.append([m["metadata"]["name"], mapping_url(m), ready, service])
    return table_lines(["NAME", "URL", "READY", "KSVC"], rows, mappings, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    mappings = await list_objects(client, DOMAIN_MAPPINGS, args)
    if not printed_without_table(mappings, args.output, "Domain mapping"):
        print("\n".join(list_lines(mappings, args.all_namespaces)))
    return 0


def describe_text(mapping: Obj, now: datetime, *, verbose: bool = False) -> str:
    rows = metadata_rows(mapping, now, verbose=verbose)
    rows += [("URL", mapping_url(mapping)), ("Reference", ref_text(mapping))]
    tls = ((mapping.get("spec") or {}).get("tls") or {}).get("secretName")
    if tls:
        rows.append(("TLS Secret", str(tls)))
    lines = [*attribute_lines(rows), ""]
    lines += condition_lines(mapping.get("status"), now, verbose=verbose)
    return "\n".join(lines) + "\n"

