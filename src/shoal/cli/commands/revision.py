"""``shoal revision list|describe|delete``: kn's revision verbs.

``list`` prints kn's columns (NAME SERVICE TRAFFIC TAGS GENERATION AGE CONDITIONS READY
REASON): the traffic share and tags come from the status of the revision's Service, the
generation from its ``serving.knative.dev/configurationGeneration`` label; rows are sorted
by service, newest generation first. ``-s/--service`` keeps the revisions of one Service
(here ``-s`` is kn's ``--service``, not the global ``--server``, which keeps its long name).
``describe`` shows kn's layout: who the revision is, what it runs (image or command, port,
env, scale bounds, concurrency, replicas), its Service and its conditions.

The other serving verbs print the same way and reuse ``attribute_lines`` (kn's aligned
``Key:  value`` block), ``condition_lines`` (kn's ``OK TYPE AGE REASON`` table),
``metadata_rows`` and ``container_rows`` from here.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.serving import annotation_rules as autoscaling
from shoal.api.serving import keys
from shoal.cli.commands.broker import status_cells, table_lines
from shoal.cli.commands.knverbs import (
    add_delete_parser,
    add_describe_parser,
    add_list_parser,
    list_objects,
    printed_without_table,
)
from shoal.cli.context import Subcommands, add_global_options, namespace
from shoal.cli.describer import age_of
from shoal.cli.printers import Aligner
from shoal.cli.serviceflags import serving_container
from shoal.client.base import Obj
from shoal.client.rest import RestClient

REVISIONS = default_catalog().require("revisions")
SERVICES = default_catalog().require("ksvc")
_SYMBOLS = {"True": "++", "False": "!!"}
_SEVERITY = {"Warning": " W", "Info": " I"}


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "revision",
        help="manage revisions (list, describe, delete)",
        description="Manage revisions: the immutable snapshots a Service's template makes.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    # kn's -s is --service; a private copy of the global options gives -s up safely.
    own = argparse.ArgumentParser(add_help=False)
    add_global_options(own, suppress=True)
    listing = add_list_parser(verbs, [own], "Revision", run_list, conflict_handler="resolve")
    listing.add_argument("-s", "--service", metavar="SERVICE", help="only this service's")
    add_describe_parser(verbs, parents, REVISIONS, "Revision", describe_text)
    add_delete_parser(verbs, parents, REVISIONS, "Revision")


# -- kn's describe layout --------------------------------------------------------------------


def attribute_lines(rows: list[tuple[str, str]], indent: int = 0) -> list[str]:
    """``Key:  value`` lines with the values aligned, as kn's describe writes a block."""
    if not rows:
        return []
    width = max(len(key) for key, _ in rows) + 3
    pad = " " * indent
    return [(pad + f"{key}:".ljust(width) + value).rstrip() for key, value in rows]


def _pairs(values: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((values or {}).items()))


def metadata_rows(obj: Obj, now: datetime, *, verbose: bool = False) -> list[tuple[str, str]]:
    """Name, Namespace, Labels and Annotations (when there are any), Age."""
    meta = obj.get("metadata") or {}
    rows = [("Name", str(meta.get("name", ""))), ("Namespace", str(meta.get("namespace", "")))]
    if meta.get("labels"):
        rows.append(("Labels", _pairs(meta["labels"])))
    if verbose and meta.get("annotations"):
        rows.append(("Annotations", _pairs(meta["annotations"])))
    rows.append(("Age", age_of(meta.get("creationTimestamp"), now)))
    return rows


def ready_condition(obj: Obj) -> Obj:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond
    return {"type": "Ready", "status": "Unknown"}


def _symbol(cond: Obj) -> str:
    status = str(cond.get("status") or "Unknown")
    if status == "False":
        return _SEVERITY.get(str(cond.get("severity") or ""), "!!")
    return _SYMBOLS.get(status, "??")


def condition_lines(status: Any, now: datetime, *, verbose: bool = False) -> list[str]:
    """kn's Conditions table: Ready first, then the others by type; MESSAGE when verbose."""
    conds = [c for c in (status or {}).get("conditions") or [] if isinstance(c, dict)]
    if not conds:
        return ["Conditions:  <none>"]
    conds.sort(key=lambda c: (c.get("type") != "Ready", str(c.get("type", ""))))
    head = ["OK", "TYPE", "AGE", "REASON"] + (["MESSAGE"] if verbose else [])
    rows = [head]
    for c in conds:
        age = age_of(c.get("lastTransitionTime"), now) if c.get("lastTransitionTime") else ""
        row = [_symbol(c), str(c.get("type", "")), age, str(c.get("reason") or "")]
        if verbose:
            row.append(str(c.get("message") or ""))
        rows.append(row)
    return ["Conditions:", *["  " + line for line in Aligner(1).lines(rows)]]


def _annotation(obj: Obj, key: str) -> str | None:
    found = autoscaling.get((obj.get("metadata") or {}).get("annotations"), key)
    return found[1] if found else None


def _env_text(entry: Obj) -> str:
    name = str(entry.get("name", ""))
    if "value" in entry or not entry.get("valueFrom"):
        return f"{name}={entry.get('value') or ''}"
    source = entry["valueFrom"]
    for key, prefix in (("configMapKeyRef", "config-map"), ("secretKeyRef", "secret")):
        ref = source.get(key)
        if isinstance(ref, dict):
            return f"{name}={prefix}:{ref.get('name', '')}:{ref.get('key', '')}"
    return f"{name}=<from {', '.join(sorted(source))}>"


def _env_from_text(source: Obj) -> str:
    for key, prefix in (("configMapRef", "config-map"), ("secretRef", "secret")):
        ref = source.get(key)
        if isinstance(ref, dict):
            return f"{prefix}:{ref.get('name', '')}"
    return "<unknown>"


def image_text(revision: Obj) -> str:
    """The image, with kn's ``(pinned to 5ea96b)`` once the digest is known."""
    containers = (revision.get("spec") or {}).get("containers") or []
    if not containers:
        return ""
    image = str(serving_container(containers).get("image") or "")
    digest = str((revision.get("status") or {}).get("imageDigest") or "")
    _, sep, hexes = digest.partition("@sha256:")
    if image and sep:
        return f"{image} (pinned to {hexes[:6]})"
    return image


def _count(value: Any) -> str:
    return "?" if value is None else str(value)


def container_rows(revision: Obj, *, details: bool = True) -> list[tuple[str, str]]:
    """What a revision runs: image or command, replicas; with details port, env, scale."""
    spec = revision.get("spec") or {}
    containers = spec.get("containers") or []
    container = serving_container(containers) if containers else {}
    rows: list[tuple[str, str]] = []
    if container.get("image"):
        rows.append(("Image", image_text(revision)))
    if container.get("command"):
        words = [*container["command"], *(container.get("args") or [])]
        rows.append(("Command", " ".join(str(w) for w in words)))
    status = revision.get("status") or {}
    actual, desired = status.get("actualReplicas"), status.get("desiredReplicas")
    if actual is not None or desired is not None:
        rows.append(("Replicas", f"{_count(actual)}/{_count(desired)}"))
    if not details:
        return rows
    ports = container.get("ports") or []
    if ports:
        port = ports[0]
        number = str(port.get("containerPort", ""))
        rows.append(("Port", f"{port['name']}:{number}" if port.get("name") else number))
    if container.get("env"):
        rows.append(("Env", ", ".join(_env_text(e) for e in container["env"])))
    if container.get("envFrom"):
        rows.append(("EnvFrom", ", ".join(_env_from_text(s) for s in container["envFrom"])))
    low = _annotation(revision, autoscaling.MIN_SCALE)
    high = _annotation(revision, autoscaling.MAX_SCALE)
    if low is not None or high is not None:
        top = high if high not in (None, "0") else "∞"
        rows.append(("Scale", f"{low or '0'} ... {top}"))
    limit = spec.get("containerConcurrency")
    target = _annotation(revision, autoscaling.TARGET)
    parts = []
    if limit:
        parts.append(f"limit {limit}")
    if target is not None:
        parts.append(f"target {target}")
    if parts:
        rows.append(("Concurrency", ", ".join(parts)))
    return rows


# -- list ------------------------------------------------------------------------------------


def generation_of(revision: Obj) -> int:
    labels = (revision.get("metadata") or {}).get("labels") or {}
    try:
        return int(labels.get(keys.CONFIGURATION_GENERATION_LABEL) or 0)
    except ValueError:
        return 0


def service_of(revision: Obj) -> str:
    return str(((revision.get("metadata") or {}).get("labels") or {}).get(keys.SERVICE_LABEL, ""))


def traffic_cells(revision: Obj, services: dict[tuple[str, str], Obj]) -> list[str]:
    """TRAFFIC (``100%``, empty when none is routed) and TAGS of a revision."""
    meta = revision.get("metadata") or {}
    service = services.get((str(meta.get("namespace", "")), service_of(revision))) or {}
    targets = [
        t
        for t in (service.get("status") or {}).get("traffic") or []
        if isinstance(t, dict) and t.get("revisionName") == meta.get("name")
    ]
    percent = sum(int(t.get("percent") or 0) for t in targets)
    tags = [str(t["tag"]) for t in targets if t.get("tag")]
    return [f"{percent}%" if targets else "", ",".join(tags)]


def sorted_revisions(revisions: list[Obj]) -> list[Obj]:
    """By namespace and service, the newest generation first (kn's order)."""
    return sorted(
        revisions,
        key=lambda r: (
            str((r.get("metadata") or {}).get("namespace", "")),
            service_of(r),
            -generation_of(r),
            str((r.get("metadata") or {}).get("name", "")),
        ),
    )


def list_lines(
    revisions: list[Obj], services: dict[tuple[str, str], Obj], now: datetime, all_ns: bool
) -> list[str]:
    head = [
        "NAME",
        "SERVICE",
        "TRAFFIC",
        "TAGS",
        "GENERATION",
        "AGE",
        "CONDITIONS",
        "READY",
        "REASON",
    ]
    rows = [
        [
            r["metadata"]["name"],
            service_of(r),
            *traffic_cells(r, services),
            str(generation_of(r) or ""),
            *status_cells(r, now),
        ]
        for r in revisions
    ]
    return table_lines(head, rows, revisions, all_ns)


async def services_by_name(client: RestClient, ns: str | None) -> dict[tuple[str, str], Obj]:
    listed = await client.list(SERVICES, ns)
    return {
        (str(s["metadata"].get("namespace", "")), str(s["metadata"]["name"])): s
        for s in listed.items
    }


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    selector = f"{keys.SERVICE_LABEL}={args.service}" if args.service else ""
    revisions = await list_objects(client, REVISIONS, args, label_selector=selector)
    revisions = sorted_revisions(revisions)
    if not printed_without_table(revisions, args.output, "Revision"):
        ns = None if args.all_namespaces else namespace(args)
        services = await services_by_name(client, ns)
        now = datetime.now(UTC)
        print("\n".join(list_lines(revisions, services, now, args.all_namespaces)))
    return 0


# -- describe --------------------------------------------------------------------------------


def describe_text(revision: Obj, now: datetime, *, verbose: bool = False) -> str:
    """``revision describe``: who it is, what it runs, its Service and conditions."""
    rows = metadata_rows(revision, now, verbose=verbose) + container_rows(revision)
    spec = revision.get("spec") or {}
    if spec.get("timeoutSeconds") is not None:
        rows.append(("Timeout", f"{spec['timeoutSeconds']}s"))
    if service_of(revision):
        rows.append(("Service", service_of(revision)))
    ready = ready_condition(revision)
    if ready.get("status") == "False":
        rows.append(("Error", f"{ready.get('reason') or ''} {ready.get('message') or ''}".strip()))
    lines = [*attribute_lines(rows), ""]
    lines += condition_lines(revision.get("status"), now, verbose=verbose)
    return "\n".join(lines) + "\n"

