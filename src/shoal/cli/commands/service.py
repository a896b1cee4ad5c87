"""``shoal service create|update|apply|list|describe|delete``: kn's service verbs.

The flags and what they do to the Service are ``shoal.cli.serviceflags``; this module sends
the result and reports as kn does. ``create`` refuses an existing name unless ``--force``
(then it replaces the Service, keeping who created it). ``update`` reads the Service,
applies the flags and writes it back, again on a conflict. ``apply`` takes a Service from
``-f FILE`` or from the flags (``apply NAME --image ...``, all options given each time),
creates it or brings the stored one to it, and says so when nothing changed.

With ``--wait`` (the default) these watch the Service until its controllers have seen the
new generation and ``Ready`` is True, printing each new message of the Ready condition
with the time since the start, as kn does::

    Creating service 'hello' in namespace 'default':

      0.011s Configuration "hello" is waiting for a Revision to become ready.
      1.204s Ready to serve.

    Service 'hello' created to latest revision 'hello-00001' is available at URL:
    http://hello.default.localhost:8080

``Ready`` False ends the wait with its reason and message, exit status 1; so does
``--wait-timeout``. ``list`` prints kn's columns (NAME URL LATEST AGE CONDITIONS READY
REASON), ``describe`` kn's layout (the Service, its revisions with their traffic share and
tags, newest first, and its conditions). ``delete --wait`` waits until the Service is gone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.errors import ApiError, Conflict, Gone, NotFound
from shoal.api.serving import keys
from shoal.api.types import ResourceType
from shoal.cli import manifests
from shoal.cli.commands.broker import print_document, status_cells, table_lines
from shoal.cli.commands.knverbs import (
    OUTPUTS,
    add_list_parser,
    list_objects,
    printed_without_table,
)
from shoal.cli.commands.revision import (
    REVISIONS,
    attribute_lines,
    condition_lines,
    container_rows,
    generation_of,
    metadata_rows,
    ready_condition,
)
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace, report
from shoal.cli.describer import age_of
from shoal.cli.errors import CliError
from shoal.cli.printers import typed
from shoal.cli.serviceflags import (
    ServiceFlags,
    add_service_options,
    add_wait_options,
    compute_traffic,
    edited_service,
    new_service,
)
from shoal.client.base import Obj, WatchEvent
from shoal.client.rest import RestClient

SERVICES = default_catalog().require("ksvc")
MAX_UPDATE_RETRIES = 3
WATCH_SECONDS = 30  # the server ends each watch after this; the wait then re-reads
_KEPT_ANNOTATIONS = (keys.CREATOR, keys.LAST_MODIFIER)


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "service",
        help="manage Knative services (create, update, apply, list, describe, delete)",
        description="Manage Knative services: revisions of a container (an image, or a "
        "command run as a plain process) and a URL that routes to them.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser("create", parents=parents, help="create a service")
    create.add_argument("name", metavar="NAME")
    add_service_options(create)
    create.add_argument(
        "--force", action="store_true", help="replace the service if it exists already"
    )
    add_namespace_options(create)
    create.set_defaults(handler=api_command(run_create))

    update = verbs.add_parser("update", parents=parents, help="update a service")
    update.add_argument("name", metavar="NAME")
    add_service_options(update, updating=True)
    add_namespace_options(update)
    update.set_defaults(handler=api_command(run_update))

    apply = verbs.add_parser(
        "apply",
        parents=parents,
        help="create a service or bring it to a declaration",
        description="Create or update a service from a Service YAML (-f) or from flags "
        "(all of them, each time: what is not given is not kept).",
    )
    apply.add_argument("name", nargs="?", metavar="NAME")
    apply.add_argument("-f", "--filename", metavar="FILE", help="a Service in YAML or JSON")
    add_service_options(apply)
    add_namespace_options(apply)
    apply.set_defaults(handler=api_command(run_apply))

    add_list_parser(verbs, parents, "Service", run_list)

    describe = verbs.add_parser("describe", parents=parents, help="show a service")
    describe.add_argument("name", metavar="NAME")
    add_namespace_options(describe)
    describe.add_argument(
        "-o", "--output", choices=(*OUTPUTS, "url"), help="output format; url prints the URL"
    )
    describe.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="more: every revision, ports, env, scale, annotations, condition messages",
    )
    describe.set_defaults(handler=api_command(run_describe))

    delete = verbs.add_parser("delete", parents=parents, help="delete services")
    delete.add_argument("names", nargs="*", metavar="NAME")
    delete.add_argument("--all", action="store_true", help="every service of the namespace")
    add_namespace_options(delete)
    add_wait_options(delete, "gone", default=False)
    delete.set_defaults(handler=api_command(run_delete))


# -- waiting ---------------------------------------------------------------------------------


class Progress:
    """kn's wait output: each new message of the Ready condition, with the time so far."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.shown = ""

    def line(self, message: str) -> None:
        print(f"{time.monotonic() - self.start:7.3f}s {message}", flush=True)

    def done(self, service: Obj) -> bool:
        """Whether ``service`` is Ready at its generation; raises when it failed."""
        status = service.get("status") or {}
        if status.get("observedGeneration") != service["metadata"].get("generation"):
            return False
        ready = ready_condition(service)
        if ready.get("status") == "True":
            self.line("Ready to serve.")
            return True
        if ready.get("status") == "False":
            reason = str(ready.get("reason") or "NotReady")
            raise CliError(f"{reason}: {ready.get('message') or 'the service is not ready'}")
        message = str(ready.get("message") or "")
        if message and message != self.shown:
            self.shown = message
            self.line(message)
        return False


async def _changes(
    client: RestClient, rt: ResourceType, name: str, ns: str, resource_version: str
) -> AsyncGenerator[WatchEvent, None]:
    """The watch events of one object after ``resource_version``, until the server ends
    the watch (callers close it with ``aclosing`` to drop the connection at once)."""
    stream = client.watch(
        rt,
        ns,
        resource_version=resource_version,
        field_selector=f"metadata.name={name}",
        timeout_seconds=WATCH_SECONDS,
    )
    try:
        async for event in stream:
            yield event
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


async def wait_ready(client: RestClient, name: str, ns: str, timeout: float) -> Obj:
    """Watch the Service until it is Ready (returned) or failed (``CliError``)."""
    progress = Progress()
    try:
        async with asyncio.timeout(timeout):
            while True:
                service = await client.get(SERVICES, name, ns)
                if progress.done(service):
                    return service
                rv = str(service["metadata"].get("resourceVersion", ""))
                try:
                    async with aclosing(_changes(client, SERVICES, name, ns, rv)) as events:
                        async for event in events:
                            if event.type == "DELETED":
                                raise CliError(f"service '{name}' was deleted while waiting")
                            if event.type in ("ADDED", "MODIFIED") and progress.done(event.object):
                                return dict(event.object)
                except Gone:
                    continue
    except TimeoutError:
        raise CliError(f"timeout: service '{name}' not ready after {timeout:g} seconds") from None


async def wait_gone(
    client: RestClient, rt: ResourceType, name: str, ns: str, timeout: float
) -> None:
    """Wait until the object is gone (its finalizers done), or raise ``CliError``."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    current = await client.get(rt, name, ns)
                except NotFound:
                    return
                rv = str(current["metadata"].get("resourceVersion", ""))
                try:
                    async with aclosing(_changes(client, rt, name, ns, rv)) as events:
                        async for event in events:
                            if event.type == "DELETED":
                                return
                except Gone:
                    continue
    except TimeoutError:
        raise CliError(f"timeout: {name} not deleted after {timeout:g} seconds") from None


def url_message(service: Obj, done: str, before: str = "") -> str:
    """kn's last words: where the service is, and whether its latest revision changed."""
    name = service["metadata"]["name"]
    status = service.get("status") or {}
    revision = str(status.get("latestReadyRevisionName") or "")
    url = str(status.get("url") or "")
    if before == "unchanged" or (before and before == revision):
        what = f"with latest revision '{revision}' (unchanged)"
    else:
        what = f"{done} to latest revision '{revision}'"
    return f"Service '{name}' {what} is available at URL:\n{url}"


async def finish(
    args: argparse.Namespace,
    client: RestClient,
    name: str,
    ns: str,
    doing: str,
    done: str,
    before: str = "",
) -> int:
    """Report a write: at once with ``--no-wait``, else once the Service is Ready."""
    if not args.wait:
        print(f"Service '{name}' {done} in namespace '{ns}'.")
        return 0
    print(f"{doing} '{name}' in namespace '{ns}':\n", flush=True)
    service = await wait_ready(client, name, ns, args.wait_timeout)
    print()
    print(url_message(service, done, before))
    return 0


# -- writes ----------------------------------------------------------------------------------


def _kept_annotations(existing: Obj, desired: Obj) -> Obj:
    """``desired`` with the creator annotations of ``existing`` (kn keeps them on replace)."""
    out = dict(desired)
    meta = dict(out.get("metadata") or {})
    old = (existing.get("metadata") or {}).get("annotations") or {}
    annotations = dict(meta.get("annotations") or {})
    for key in _KEPT_ANNOTATIONS:
        if key in old:
            annotations[key] = old[key]
    if annotations:
        meta["annotations"] = annotations
    meta["resourceVersion"] = (existing.get("metadata") or {}).get("resourceVersion", "")
    out["metadata"] = meta
    return out


async def replace(client: RestClient, desired: Obj, *, dry_run: bool = False) -> Obj:
    """PUT ``desired`` over the stored Service (creator kept), again on a conflict."""
    meta = desired["metadata"]
    for attempt in range(MAX_UPDATE_RETRIES + 1):
        existing = await client.get(SERVICES, meta["name"], meta["namespace"])
        try:
            return await client.update(
                SERVICES, _kept_annotations(existing, desired), dry_run=dry_run
            )
        except Conflict:
            if attempt == MAX_UPDATE_RETRIES:
                raise
    raise AssertionError("unreachable")


async def run_create(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    flags = ServiceFlags.from_args(args)
    try:
        existing: Obj | None = await client.get(SERVICES, args.name, ns)
    except NotFound:
        existing = None
    generation = int(((existing or {}).get("metadata") or {}).get("generation") or 0) + 1
    service = new_service(args.name, ns, flags, generation=generation)
    if existing is None:
        await client.create(SERVICES, service)
        return await finish(args, client, args.name, ns, "Creating service", "created")
    if not args.force:
        raise CliError(
            f"cannot create service '{args.name}' in namespace '{ns}' because the service "
            "already exists and no --force option was given"
        )
    await replace(client, service)
    return await finish(args, client, args.name, ns, "Replacing service", "replaced")


async def run_update(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    flags = ServiceFlags.from_args(args)
    if not flags.changes_anything():
        raise CliError("'service update' needs at least one flag saying what to change")
    before = ""
    for attempt in range(MAX_UPDATE_RETRIES + 1):
        service = await client.get(SERVICES, args.name, ns)
        before = str((service.get("status") or {}).get("latestReadyRevisionName") or "")
        updated = edited_service(service, flags)
        if _declared(updated) == _declared(service):
            break
        try:
            await client.update(SERVICES, updated)
            break
        except Conflict:
            if attempt == MAX_UPDATE_RETRIES:
                raise
    return await finish(args, client, args.name, ns, "Updating Service", "updated", before)


def _declared(service: Obj) -> tuple[Any, Any, Any]:
    """What a user declares of a Service: spec, labels, annotations but who changed it."""
    meta = service.get("metadata") or {}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _KEPT_ANNOTATIONS
    }
    return service.get("spec"), meta.get("labels") or {}, annotations


def declared_service(args: argparse.Namespace, ns: str) -> Obj:
    """The Service ``apply`` brings about: the file's, or the one the flags describe."""
    flags = ServiceFlags.from_args(args)
    if not args.filename:
        if not args.name:
            raise CliError("'service apply' requires the service name, or a file with -f")
        return new_service(args.name, ns, flags)
    if ServiceFlags(traffic=flags.traffic) != flags:
        raise CliError("with -f, give only the traffic flags; the file declares the rest")
    docs = manifests.read([args.filename])
    if len(docs) != 1:
        raise CliError(f"{args.filename} must hold one Service, it holds {len(docs)} objects")
    rt, body = manifests.resolve(docs[0], args.namespace)
    if rt != SERVICES:
        raise CliError(f"{args.filename} holds a {body.get('kind')}, not a Knative Service")
    name = body["metadata"]["name"]
    if args.name and args.name != name:
        raise CliError(
            f"the service name '{args.name}' does not match the name in the file, '{name}'"
        )
    if flags.traffic.given:
        spec = body.setdefault("spec", {})
        spec["traffic"] = compute_traffic(spec.get("traffic"), flags.traffic, name)
    return {k: v for k, v in body.items() if k != "status"}


async def run_apply(args: argparse.Namespace, client: RestClient) -> int:
    service = declared_service(args, namespace(args))
    name, ns = service["metadata"]["name"], service["metadata"]["namespace"]
    try:
        existing = await client.get(SERVICES, name, ns)
    except NotFound:
        await client.create(SERVICES, service)
        return await finish(args, client, name, ns, "Creating service", "created")
    trial = await replace(client, service, dry_run=True)
    if _declared(trial) == _declared(existing):
        print(f"No changes to apply to service '{name}'.")
        if service_url(existing):
            print(url_message(existing, "applied", "unchanged"))
        return 0
    await replace(client, service)
    return await finish(args, client, name, ns, "Applying service", "applied")


async def run_delete(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    names = list(args.names)
    if args.all == bool(names):
        raise CliError("give the names of the services to delete, or --all")
    if args.all:
        names = [s["metadata"]["name"] for s in (await client.list(SERVICES, ns)).items]
    failed = False
    for name in names:
        try:
            await client.delete(SERVICES, name, ns)
            if args.wait:
                await wait_gone(client, SERVICES, name, ns, args.wait_timeout)
        except (ApiError, CliError) as exc:
            report(exc)
            failed = True
            continue
        print(f"Service '{name}' successfully deleted in namespace '{ns}'.", flush=True)
    return 1 if failed else 0


# -- reads -----------------------------------------------------------------------------------


def service_url(service: Obj) -> str:
    return str((service.get("status") or {}).get("url") or "")


def list_lines(services: list[Obj], now: datetime, all_namespaces: bool) -> list[str]:
    head = ["NAME", "URL", "LATEST", "AGE", "CONDITIONS", "READY", "REASON"]
    rows = [
        [
            s["metadata"]["name"],
            service_url(s),
            str((s.get("status") or {}).get("latestReadyRevisionName") or ""),
            *status_cells(s, now),
        ]
        for s in services
    ]
    return table_lines(head, rows, services, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    services = await list_objects(client, SERVICES, args)
    if not printed_without_table(services, args.output, "Service"):
        print("\n".join(list_lines(services, datetime.now(UTC), args.all_namespaces)))
    return 0


@dataclass
class RevisionView:
    """A revision as ``service describe`` shows it: with its share of the traffic."""

    revision: Obj
    percent: int = 0
    tag: str = ""
    follows_latest: bool = False
    latest_created: bool = False
    latest_ready: bool = False
    scaled: Obj | None = None  # the latest ``Scaled`` Event of the revision


def bullet(percent: int, ready: str) -> str:
    """kn's traffic column: ``100%`` when ready, ``?``/``!`` for unknown/failed ones."""
    symbol = {"True": "%" if percent else "+", "False": "!"}.get(ready, "?")
    return f"{percent:3d}{symbol}" if percent else f"   {symbol}"


def revision_header(view: RevisionView, now: datetime) -> str:
    name = str(view.revision["metadata"]["name"])
    if view.follows_latest:
        text = f"@latest ({name})"
    elif view.latest_ready:
        text = f"{name} (current @latest)"
    elif view.latest_created:
        text = f"{name} (latest created)"
    else:
        text = name
    if view.tag:
        text += f" #{view.tag}"
    age = age_of(view.revision["metadata"].get("creationTimestamp"), now)
    return f"{text} [{generation_of(view.revision)}] ({age})"


def revision_lines(views: list[RevisionView], now: datetime, verbose: bool) -> list[str]:
    lines = ["Revisions:"]
    for view in views:
        ready = ready_condition(view.revision)
        lines.append(
            f"  {bullet(view.percent, str(ready.get('status')))}  {revision_header(view, now)}"
        )
        rows = []
        if ready.get("status") == "False":
            rows.append(("Error", str(ready.get("reason") or "")))
        rows += scale_rows(view, now)
        rows += container_rows(view.revision, details=verbose)
        lines += attribute_lines(rows, indent=8)
    return lines


def scale_rows(view: RevisionView, now: datetime) -> list[tuple[str, str]]:
    """Instances ready of those wanted, whether traffic reaches it, the last scaling."""
    status = view.revision.get("status") or {}
    if status.get("desiredReplicas") is None:
        return []
    rows = [("Replicas", f"{status.get('actualReplicas') or 0}/{status['desiredReplicas']}")]
    active = next((c for c in status.get("conditions") or [] if c.get("type") == "Active"),
                  None)
    if active is not None and active.get("status") != "True":
        rows.append(("Active", f"{active.get('status')} ({active.get('reason') or ''})"))
    if view.scaled is not None:
        when = view.scaled.get("lastTimestamp") or view.scaled.get("eventTime")
        rows.append(("Scaled", f"{view.scaled.get('message')} ({age_of(when, now)} ago)"))
    return rows


async def last_scaled(client: RestClient, views: list[RevisionView], ns: str) -> None:
    """Attach each revision's latest ``Scaled`` Event (what the autoscaler last did)."""
    events_type = default_catalog().by_kind("v1", "Event")
    if events_type is None or not views:
        return
    try:
        events = (await client.list(events_type, ns)).items
    except ApiError:
        return
    by_uid = {v.revision["metadata"].get("uid"): v for v in views}
    for event in events:
        view = by_uid.get((event.get("involvedObject") or {}).get("uid"))
        if view is None or event.get("reason") != "Scaled":
            continue
        stamp = str(event.get("lastTimestamp") or event.get("eventTime") or "")
        if view.scaled is None or stamp >= str(view.scaled.get("lastTimestamp") or ""):
            view.scaled = event


def describe_text(
    service: Obj, views: list[RevisionView], now: datetime, *, verbose: bool = False
) -> str:
    """``service describe``: the Service, its revisions (newest first), its conditions."""
    rows = metadata_rows(service, now, verbose=verbose)
    rows.append(("URL", service_url(service)))
    address = ((service.get("status") or {}).get("address") or {}).get("url")
    if verbose and address:
        rows.append(("Address", str(address)))
    lines = [*attribute_lines(rows), ""]
    lines += [*revision_lines(views, now, verbose), ""]
    lines += condition_lines(service.get("status"), now, verbose=verbose)
    return "\n".join(lines) + "\n"


async def revision_views(client: RestClient, service: Obj, *, every: bool) -> list[RevisionView]:
    """The revisions that get traffic, then the latest created and ready ones (and with
    ``every``, all of the Service's), newest first."""
    meta = service["metadata"]
    ns = str(meta.get("namespace", ""))
    status = service.get("status") or {}
    latest_created = status.get("latestCreatedRevisionName")
    latest_ready = status.get("latestReadyRevisionName")
    fetched: dict[str, Obj | None] = {}

    async def fetch(name: str) -> Obj | None:
        if name not in fetched:
            try:
                fetched[name] = await client.get(REVISIONS, name, ns)
            except NotFound:
                fetched[name] = None
        return fetched[name]

    def view(revision: Obj, **traffic: Any) -> RevisionView:
        name = revision["metadata"]["name"]
        return RevisionView(
            revision,
            latest_created=name == latest_created,
            latest_ready=name == latest_ready,
            **traffic,
        )

    views: list[RevisionView] = []
    for target in status.get("traffic") or []:
        revision = await fetch(str(target.get("revisionName") or ""))
        if revision is not None:
            views.append(
                view(
                    revision,
                    percent=int(target.get("percent") or 0),
                    tag=str(target.get("tag") or ""),
                    follows_latest=bool(target.get("latestRevision")),
                )
            )
    seen = {v.revision["metadata"]["name"] for v in views}
    extra = [n for n in (latest_created, latest_ready) if n and n not in seen]
    for name in dict.fromkeys(extra):
        revision = await fetch(str(name))
        if revision is not None:
            views.append(view(revision))
            seen.add(str(name))
    if every:
        selector = f"{keys.SERVICE_LABEL}={meta['name']}"
        for revision in (await client.list(REVISIONS, ns, label_selector=selector)).items:
            if revision["metadata"]["name"] not in seen:
                views.append(view(revision))
    return sorted(views, key=lambda v: -generation_of(v.revision))


async def run_describe(args: argparse.Namespace, client: RestClient) -> int:
    service = typed(SERVICES, await client.get(SERVICES, args.name, namespace(args)))
    if args.output == "url":
        print(service_url(service))
        return 0
    if args.output:
        print_document(service, args.output)
        return 0
    views = await revision_views(client, service, every=args.verbose)
    await last_scaled(client, views, str(service["metadata"].get("namespace") or ""))
    sys.stdout.write(describe_text(service, views, datetime.now(UTC), verbose=args.verbose))
    return 0
