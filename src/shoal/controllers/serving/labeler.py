"""The Route labeller: which revisions a Route sends traffic to, written on the revisions.

As Knative's labeller, after each reconcile of a Route: every revision it routes (and, for a
``latestRevision`` target, its Configuration's latest created revision, so a rollout has no
gap) lists the Route in its ``serving.knative.dev/routes`` annotation and is labelled
``serving.knative.dev/routingState=active``; a revision that listed the Route and is no
longer routed drops it, and when no Route is left it becomes ``reserve``. Every change of
the state stamps ``serving.knative.dev/routingStateModified`` with the time. Revision
garbage collection reads both (``gc``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.errors import NotFound
from shoal.api.serving import keys
from shoal.client.base import Client

REVISIONS = default_catalog().require("revisions")
ACTIVE = "active"
RESERVE = "reserve"
Obj = dict[str, Any]


def routing_patch(revision: Obj, route: str, routed: bool, now: str) -> Obj | None:
    """The merge patch that records whether ``route`` routes ``revision`` (None: none)."""
    meta = revision["metadata"]
    annotations = meta.get("annotations") or {}
    routes = {r for r in str(annotations.get(keys.ROUTES) or "").split(",") if r}
    if routed:
        routes.add(route)
    elif route in routes:
        routes.discard(route)
    else:
        return None
    state = ACTIVE if routes else RESERVE
    patch_annotations: dict[str, str | None] = {}
    joined = ",".join(sorted(routes)) or None
    if joined != annotations.get(keys.ROUTES):
        patch_annotations[keys.ROUTES] = joined
    patch: Obj = {}
    if (meta.get("labels") or {}).get(keys.ROUTING_STATE_LABEL) != state:
        patch["labels"] = {keys.ROUTING_STATE_LABEL: state}
        patch_annotations[keys.ROUTING_STATE_MODIFIED] = now
    if patch_annotations:
        patch["annotations"] = patch_annotations
    return {"metadata": patch} if patch else None


async def label_revisions(client: Client, namespace: str, route: str, routed: Iterable[str],
                          now: str) -> None:
    """Bring the routing state of ``namespace``'s revisions in line with ``routed``."""
    names = set(routed)
    listed = await client.list(REVISIONS, namespace)
    for revision in listed.items:
        meta = revision["metadata"]
        if meta.get("deletionTimestamp"):
            continue
        patch = routing_patch(revision, route, meta["name"] in names, now)
        if patch is None:
            continue
        with contextlib.suppress(NotFound):
            await client.patch(REVISIONS, meta["name"], namespace, patch)
