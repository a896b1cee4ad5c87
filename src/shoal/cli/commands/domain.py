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
import sys
from datetime import UTC, datetime

from shoal.api.catalog import default_catalog
from shoal.api.errors import ApiError
from shoal.cli.commands.broker import print_document, table_lines
from shoal.cli.commands.revision import (
    attribute_lines,
    condition_lines,
    metadata_rows,
    ready_condition,
)
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace, report
from shoal.cli.errors import CliError
from shoal.cli.printers import as_list, typed
from shoal.client.base import Obj
from shoal.client.rest import RestClient

DOMAIN_MAPPINGS = default_catalog().require("domainmappings")
SERVICES = default_catalog().require("ksvc")
ROUTES = default_catalog().require("routes")
OUTPUTS = ("yaml", "json")
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

    listing = verbs.add_parser("list", aliases=["ls"], parents=parents, help="list domain mappings")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(run_list))

    describe = verbs.add_parser("describe", parents=parents, help="show a domain mapping")
    describe.add_argument("host", metavar="HOST")
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.add_argument(
        "-v", "--verbose", action="store_true", help="more: annotations, condition messages"
    )
    describe.set_defaults(handler=api_command(run_describe))

    delete = verbs.add_parser("delete", parents=parents, help="delete domain mappings")
    delete.add_argument("hosts", nargs="+", metavar="HOST")
    add_namespace_options(delete)
    delete.set_defaults(handler=api_command(run_delete))


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
    ns = None if args.all_namespaces else namespace(args)
    listed = await client.list(DOMAIN_MAPPINGS, ns)
    mappings = [typed(DOMAIN_MAPPINGS, m) for m in listed.items]
    if args.output:
        print_document(as_list(mappings), args.output)
    elif not mappings:
        print("No domain mappings found.")
    else:
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


async def run_describe(args: argparse.Namespace, client: RestClient) -> int:
    mapping = typed(DOMAIN_MAPPINGS, await client.get(DOMAIN_MAPPINGS, args.host, namespace(args)))
    if args.output:
        print_document(mapping, args.output)
        return 0
    sys.stdout.write(describe_text(mapping, datetime.now(UTC), verbose=args.verbose))
    return 0


async def run_delete(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    failed = False
    for host in args.hosts:
        try:
            await client.delete(DOMAIN_MAPPINGS, host, ns)
        except ApiError as exc:
            report(exc)
            failed = True
            continue
        print(f"Domain mapping '{host}' deleted in namespace '{ns}'.", flush=True)
    return 1 if failed else 0
