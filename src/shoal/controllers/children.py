"""Keeping an owned child in step with what its builder says it should be.

``ensure`` creates the child when it is missing, leaves it alone when the fields the
owner controls already match, and otherwise updates just those fields. A child of the same
name that another owner controls is not touched: ``NotOwned`` says so, and the caller
marks a False condition, as Knative does.
"""

from __future__ import annotations

import copy
from typing import Any

from shoal.api.errors import AlreadyExists, NotFound
from shoal.api.types import ResourceType
from shoal.client.base import Client
from shoal.controllers.errors import TemporaryError

Obj = dict[str, Any]

OWNED_FIELDS = ("spec", "metadata.labels", "metadata.annotations")


class NotOwned(Exception):
    def __init__(self, rt: ResourceType, name: str) -> None:
        super().__init__(f'there is an existing {rt.kind} "{name}" that we do not own')
        self.kind = rt.kind
        self.name = name


def _get(obj: Obj, path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node or None


def _set(obj: Obj, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = obj
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = copy.deepcopy(value)


def controlled_by(obj: Obj, owner_uid: str) -> bool:
    return any(ref.get("controller") and ref.get("uid") == owner_uid
               for ref in obj["metadata"].get("ownerReferences") or [])


async def ensure(client: Client, rt: ResourceType, desired: Obj,
                 fields: tuple[str, ...] = OWNED_FIELDS) -> Obj:
    meta = desired["metadata"]
    owner_uid = meta["ownerReferences"][0]["uid"]
    try:
        actual = await client.get(rt, meta["name"], meta["namespace"])
    except NotFound:
        try:
            return await client.create(rt, desired)
        except AlreadyExists:
            raise TemporaryError(f'{rt.kind} "{meta["name"]}" appeared meanwhile',
                                 delay=0.1) from None
    if not controlled_by(actual, owner_uid):
        raise NotOwned(rt, meta["name"])
    if all(_get(actual, f) == _get(desired, f) for f in fields):
        return actual
    body = copy.deepcopy(actual)
    for path in fields:
        _set(body, path, _get(desired, path))
    return await client.update(rt, body)
