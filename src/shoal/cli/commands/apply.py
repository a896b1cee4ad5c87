"""``shoal apply -f FILE|DIR|-``: create each object, or bring it to what the file says.

For every document: resolve its kind from ``apiVersion`` and ``kind``; create the object
when it does not exist; otherwise send the document as a JSON merge patch and print
``configured``, or ``unchanged`` when the patch would not change the object (checked
locally, then with a server-side dry run, so an unchanged object is not written at all).

Unlike ``kubectl apply`` there is no three-way diff against a last-applied configuration:
a field, label or list entry that was removed from the file is not removed from the
object. Delete it with ``shoal delete`` and apply again, or edit it with a patch.

A document that fails is reported the way kubectl does, and the others are still applied;
the exit status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable
from typing import Literal

from shoal.api.errors import ApiError, NotFound
from shoal.api.types import ResourceType
from shoal.apiserver.patch import merge_patch
from shoal.cli import manifests
from shoal.cli.context import (
    Subcommands,
    add_namespace_options,
    api_command,
    report,
)
from shoal.cli.errors import CliError
from shoal.cli.printers import object_ref
from shoal.client.base import FieldValidation, Obj
from shoal.client.rest import RestClient

DryRun = Literal["none", "client", "server"]
_VALIDATION: dict[str, FieldValidation] = {
    "strict": "Strict",
    "true": "Strict",
    "warn": "Warn",
    "ignore": "Ignore",
    "false": "Ignore",
}
_VOLATILE = ("resourceVersion", "managedFields", "generation")


def register(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "apply",
        parents=parents,
        help="create or update objects from YAML or JSON files",
        description="Create or update the objects of YAML/JSON files (several documents a "
        "file). Existing objects get the file's fields as a JSON merge patch; "
        "fields removed from the file are not removed from the object.",
    )
    manifests.add_file_options(parser, required=True)
    add_namespace_options(parser)
    parser.add_argument(
        "--dry-run",
        nargs="?",
        const="server",
        default="none",
        choices=("none", "server", "client"),
        help="only show what would happen: 'server' (the default when given "
        "alone) asks the server to check without storing, 'client' "
        "sends no writes",
    )
    parser.add_argument(
        "--validate",
        default="strict",
        choices=sorted(_VALIDATION),
        help="how the server treats unknown fields (default strict)",
    )
    parser.add_argument(
        "-o", "--output", choices=("name",), help="print only resource/name of each object"
    )
    parser.set_defaults(handler=api_command(run))


async def run(args: argparse.Namespace, client: RestClient) -> int:
    docs = manifests.read(args.filename, recursive=args.recursive)
    failed = False
    for doc in docs:
        try:
            rt, body = manifests.resolve(doc, args.namespace)
            outcome = await apply_one(
                client, rt, body, args.dry_run, _VALIDATION[args.validate], doc.source
            )
        except StepFailed as exc:
            report(exc.error, exc.action)
            failed = True
            continue
        except (ApiError, CliError) as exc:
            report(exc)
            failed = True
            continue
        ref = object_ref(rt, body["metadata"]["name"])
        print(ref if args.output == "name" else f"{ref} {outcome}{_suffix(args.dry_run)}")
        sys.stdout.flush()
    return 1 if failed else 0


def _suffix(dry_run: DryRun) -> str:
    return {"none": "", "client": " (dry run)", "server": " (server dry run)"}[dry_run]


async def apply_one(
    client: RestClient,
    rt: ResourceType,
    body: Obj,
    dry_run: DryRun,
    validation: FieldValidation = "Strict",
    source: str = "",
) -> str:
    """Create or patch one object; ``created``, ``configured`` or ``unchanged``.

    ``source`` (the file the object came from) names it in error messages.
    """
    origin = f'"{source}"' if source else f'{body["kind"]} "{body["metadata"]["name"]}"'
    name = body["metadata"]["name"]
    namespace = body["metadata"].get("namespace", "")
    try:
        current = await client.get(rt, name, namespace)
    except NotFound:
        current = None
    if current is None:
        if dry_run != "client":
            await _annotated(
                client.create(rt, body, dry_run=dry_run == "server", field_validation=validation),
                f"creating {origin}",
            )
        return "created"
    patch = {k: v for k, v in body.items() if not (k == "status" and rt.status_subresource)}
    if _comparable(merge_patch(current, patch)) == _comparable(current):
        return "unchanged"
    if dry_run == "client":
        return "configured"
    trial = await _annotated(
        client.patch(
            rt, name, namespace, patch, "merge", dry_run=True, field_validation=validation
        ),
        f"patching {origin}",
    )
    if _comparable(trial) == _comparable(current):
        return "unchanged"
    if dry_run == "none":
        await _annotated(
            client.patch(rt, name, namespace, patch, "merge", field_validation=validation),
            f"patching {origin}",
        )
    return "configured"


class StepFailed(Exception):
    """An ``ApiError`` of one step of an apply, with what was being done (for its message)."""

    def __init__(self, error: ApiError, action: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.action = action


async def _annotated(call: Awaitable[Obj], action: str) -> Obj:
    try:
        return await call
    except ApiError as exc:
        raise StepFailed(exc, f"error when {action}") from exc


def _comparable(obj: Obj) -> Obj:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE}
    return {**obj, "metadata": meta}
