"""``shoal trigger create|update|list|describe|delete``: kn's trigger verbs, plus CESQL.

``--filter KEY=VALUE`` (repeatable) is kn's exact attribute filter, ``spec.filter.attributes``;
an empty value (``--filter subject=``) asks only that the attribute exists. ``--cesql EXPR``
adds a CloudEvents SQL filter to ``spec.filters``. Knative ignores ``spec.filter`` once
``spec.filters`` is set, so when both are used the attributes are written into
``spec.filters`` too: one ``exact`` element each, or ``EXISTS name`` for an empty value.
``update`` merges ``--filter`` into the existing attributes (``--filter type-`` removes
one), replaces the CESQL expression (``--cesql ''`` removes it), the sink and delivery
options; other elements of ``spec.filters`` (written with YAML) are kept. The broker
cannot change. Messages are kn's
(``Trigger 't' successfully created in namespace 'default'.``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.eventing.filters import ATTRIBUTE_NAME
from shoal.cesql import CesqlParseError, parse
from shoal.cli.commands.broker import print_document, status_cells, table_lines
from shoal.cli.commands.describe import events_of
from shoal.cli.context import Subcommands, add_namespace_options, api_command, namespace
from shoal.cli.describer import age_of, conditions, event_lines, fields, header
from shoal.cli.errors import CliError
from shoal.cli.printers import as_list, typed
from shoal.cli.sinks import (
    add_delivery_options,
    delivery_changes,
    delivery_view,
    merged_delivery,
    parse_sink,
    sink_text,
)
from shoal.client.base import Obj
from shoal.client.rest import RestClient

TRIGGERS = default_catalog().require("triggers")
OUTPUTS = ("yaml", "json")
DEFAULT_BROKER = "default"


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "trigger",
        help="manage triggers (create, update, list, describe, delete)",
        description="Manage triggers: subscriptions to the events of a broker that pass a filter.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    create = verbs.add_parser("create", parents=parents, help="create a trigger")
    create.add_argument("name", metavar="NAME")
    create.add_argument(
        "--broker",
        default=DEFAULT_BROKER,
        help=f"the broker the trigger subscribes to (default {DEFAULT_BROKER!r})",
    )
    _add_filter_options(create)
    create.add_argument(
        "--sink",
        required=True,
        metavar="SINK",
        help="where matching events go: "
        "ksvc:NAME, broker:NAME, channel:NAME, NAME (a Knative Service) or an http(s) URL",
    )
    add_delivery_options(create)
    add_namespace_options(create)
    create.set_defaults(handler=api_command(run_create))

    update = verbs.add_parser("update", parents=parents, help="update a trigger")
    update.add_argument("name", metavar="NAME")
    _add_filter_options(update, updating=True)
    update.add_argument("--sink", metavar="SINK", help="a new sink")
    add_delivery_options(update)
    add_namespace_options(update)
    update.set_defaults(handler=api_command(run_update))

    listing = verbs.add_parser("list", aliases=["ls"], parents=parents, help="list triggers")
    listing.add_argument("--broker", help="only the triggers of this broker")
    add_namespace_options(listing, all_namespaces=True)
    listing.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    listing.set_defaults(handler=api_command(run_list))

    describe = verbs.add_parser("describe", parents=parents, help="show a trigger")
    describe.add_argument("name", metavar="NAME")
    add_namespace_options(describe)
    describe.add_argument("-o", "--output", choices=OUTPUTS, help="output format")
    describe.set_defaults(handler=api_command(run_describe))

    delete = verbs.add_parser("delete", parents=parents, help="delete a trigger")
    delete.add_argument("name", metavar="NAME")
    add_namespace_options(delete)
    delete.set_defaults(handler=api_command(run_delete))


def _add_filter_options(parser: argparse.ArgumentParser, *, updating: bool = False) -> None:
    extra = "; KEY- removes a key" if updating else ""
    parser.add_argument(
        "--filter",
        dest="filters",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="exact match on a CloudEvents attribute, e.g. type=dev.knative.foo; "
        f"KEY= only asks that it exists (repeatable{extra})",
    )
    parser.add_argument(
        "--cesql",
        metavar="EXPR",
        help="a CloudEvents SQL expression the event must satisfy"
        + ("; '' removes it" if updating else ""),
    )


# -- filters ---------------------------------------------------------------------------------


def parse_filters(values: list[str], *, updating: bool = False) -> tuple[dict[str, str], set[str]]:
    """``--filter`` values as (attributes to set, attribute names to remove)."""
    attributes: dict[str, str] = {}
    removed: set[str] = set()
    for text in values:
        key, sep, value = text.partition("=")
        if not sep and updating and key.endswith("-"):
            key = key[:-1]
            removed.add(key)
        elif not sep:
            raise CliError(f"invalid value {text!r} for --filter: expected KEY=VALUE")
        if not ATTRIBUTE_NAME.match(key):
            raise CliError(
                f"invalid value {text!r} for --filter: an attribute name is lower-case "
                "letters and digits, starting with a letter"
            )
        if sep:
            attributes[key] = value
            removed.discard(key)
    return attributes, removed


def check_cesql(expression: str) -> None:
    """Refuse an expression that does not parse, naming the flag and the position."""
    try:
        parse(expression)
    except CesqlParseError as exc:
        raise CliError(f"invalid value {expression!r} for --cesql: {exc}") from None


def attribute_elements(attributes: dict[str, str]) -> list[Obj]:
    """``spec.filters`` elements equivalent to an attribute filter."""
    return [
        {"exact": {key: value}} if value else {"cesql": f"EXISTS {key}"}
        for key, value in attributes.items()
    ]


def build_filters(
    attributes: dict[str, str], cesql: str | None, others: list[Obj] | None = None
) -> tuple[Obj | None, list[Obj] | None]:
    """``spec.filter`` and ``spec.filters`` for an attribute filter, a CESQL expression and
    any other ``spec.filters`` elements to keep."""
    flt: Obj | None = {"attributes": dict(attributes)} if attributes else None
    rest = list(others or [])
    if cesql:
        rest.append({"cesql": cesql})
    if not rest:
        return flt, None
    return flt, attribute_elements(attributes) + rest


def split_filters(spec: Obj) -> tuple[dict[str, str], str | None, list[Obj]]:
    """A trigger's (attributes, CESQL expression, other ``spec.filters`` elements), the
    inverse of ``build_filters``."""
    attributes = dict(((spec.get("filter") or {}).get("attributes")) or {})
    generated = attribute_elements(attributes)
    cesql: str | None = None
    others: list[Obj] = []
    for element in spec.get("filters") or []:
        if element in generated:
            generated.remove(element)
        elif isinstance(element, dict) and set(element) == {"cesql"} and cesql is None:
            cesql = str(element["cesql"])
        else:
            others.append(element)
    return attributes, cesql, others


def build_trigger(args: argparse.Namespace, ns: str) -> Obj:
    """The Trigger that ``trigger create`` sends for these flags."""
    attributes, _ = parse_filters(args.filters)
    if args.cesql is not None:
        check_cesql(args.cesql)
    spec: Obj = {"broker": args.broker}
    flt, filters = build_filters(attributes, args.cesql or None)
    if flt is not None:
        spec["filter"] = flt
    if filters is not None:
        spec["filters"] = filters
    spec["subscriber"] = parse_sink(args.sink, ns, "--sink")
    delivery = delivery_changes(args, ns)
    if delivery:
        spec["delivery"] = delivery
    return {
        "apiVersion": TRIGGERS.api_version,
        "kind": TRIGGERS.kind,
        "metadata": {"name": args.name, "namespace": ns},
        "spec": spec,
    }


def updated_spec(spec: Obj, args: argparse.Namespace, ns: str) -> Obj:
    """``spec`` with the changes ``trigger update`` asks for (a new dict)."""
    out = dict(spec)
    if args.filters or args.cesql is not None:
        attributes, cesql, others = split_filters(spec)
        changes, removed = parse_filters(args.filters, updating=True)
        attributes.update(changes)
        for key in removed:
            attributes.pop(key, None)
        if args.cesql is not None:
            if args.cesql:
                check_cesql(args.cesql)
            cesql = args.cesql or None
        flt, filters = build_filters(attributes, cesql, others)
        out["filter"] = flt if flt is not None else {}
        out["filters"] = filters
    if args.sink is not None:
        out["subscriber"] = parse_sink(args.sink, ns, "--sink")
    changes = delivery_changes(args, ns)
    if changes:
        out["delivery"] = merged_delivery(spec.get("delivery"), changes)
    return {key: value for key, value in out.items() if value is not None}


def spec_patch(old: Obj, new: Obj) -> list[Obj]:
    """A JSON patch turning ``old`` spec fields into ``new`` ones, field by field."""
    ops: list[Obj] = [
        {"op": "add", "path": f"/spec/{key}", "value": value}
        for key, value in new.items()
        if old.get(key) != value
    ]
    ops += [{"op": "remove", "path": f"/spec/{key}"} for key in old if key not in new]
    return ops


# -- commands --------------------------------------------------------------------------------


async def run_create(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.create(TRIGGERS, build_trigger(args, ns))
    print(f"Trigger '{args.name}' successfully created in namespace '{ns}'.")
    return 0


async def run_update(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    trigger = await client.get(TRIGGERS, args.name, ns)
    spec = trigger.get("spec") or {}
    ops = spec_patch(spec, updated_spec(spec, args, ns))
    if ops:
        await client.patch(TRIGGERS, args.name, ns, ops, "json")
    print(f"Trigger '{args.name}' updated in namespace '{ns}'.")
    return 0


def list_lines(triggers: list[Obj], now: datetime, all_namespaces: bool) -> list[str]:
    head = ["NAME", "BROKER", "SINK", "AGE", "CONDITIONS", "READY", "REASON"]
    rows = []
    for t in triggers:
        spec = t.get("spec") or {}
        ns = str(t["metadata"].get("namespace") or "")
        sink = sink_text(spec.get("subscriber"), ns)
        rows.append(
            [t["metadata"]["name"], str(spec.get("broker", "")), sink, *status_cells(t, now)]
        )
    return table_lines(head, rows, triggers, all_namespaces)


async def run_list(args: argparse.Namespace, client: RestClient) -> int:
    ns = None if args.all_namespaces else namespace(args)
    triggers = [typed(TRIGGERS, t) for t in (await client.list(TRIGGERS, ns)).items]
    if args.broker:
        triggers = [t for t in triggers if (t.get("spec") or {}).get("broker") == args.broker]
    if args.output:
        print_document(as_list(triggers), args.output)
    elif not triggers:
        print("No triggers found.")
    else:
        print("\n".join(list_lines(triggers, datetime.now(UTC), args.all_namespaces)))
    return 0


def filter_text(element: Any) -> str:
    """One ``spec.filters`` element on one line: ``exact type=a``, ``cesql x > 1``."""
    if isinstance(element, dict) and len(element) == 1:
        ((dialect, value),) = element.items()
        if dialect in ("exact", "prefix", "suffix") and isinstance(value, dict):
            return f"{dialect} " + ", ".join(f"{k}={v}" for k, v in value.items())
        if dialect == "cesql":
            return f"cesql {value}"
    return json.dumps(element, separators=(",", ":"))


def describe_text(trigger: Obj, events: list[Obj], now: datetime) -> str:
    """``trigger describe``: broker, filters, sink, delivery, conditions and events."""
    meta = trigger.get("metadata") or {}
    ns = str(meta.get("namespace") or "")
    spec = trigger.get("spec") or {}
    status = trigger.get("status") or {}
    summary: dict[str, Any] = {
        "age": age_of(meta.get("creationTimestamp"), now),
        "broker": spec.get("broker", ""),
        "filter": {"attributes": (spec.get("filter") or {}).get("attributes") or {}},
        "sink": sink_text(spec.get("subscriber"), ns) or "<none>",
        "subscriberUri": status.get("subscriberUri") or "<none>",
    }
    if spec.get("filters"):
        summary["filters"] = [filter_text(f) for f in spec["filters"]]
    if spec.get("delivery"):
        summary["delivery"] = delivery_view(spec["delivery"], ns)
    if status.get("deadLetterSinkUri"):
        summary["deadLetterSinkUri"] = status["deadLetterSinkUri"]
    lines = header(trigger) + fields(summary, 0) + conditions(status, now)
    return "\n".join(lines + event_lines(events, now)) + "\n"


async def run_describe(args: argparse.Namespace, client: RestClient) -> int:
    trigger = typed(TRIGGERS, await client.get(TRIGGERS, args.name, namespace(args)))
    if args.output:
        print_document(trigger, args.output)
        return 0
    now = datetime.now(UTC)
    sys.stdout.write(describe_text(trigger, await events_of(client, trigger), now))
    return 0


async def run_delete(args: argparse.Namespace, client: RestClient) -> int:
    ns = namespace(args)
    await client.delete(TRIGGERS, args.name, ns)
    print(f"Trigger '{args.name}' deleted in namespace '{ns}'.")
    return 0
