"""Revision garbage collection, as Knative's ``gc`` reconciler does it with ``config-gc``.

The Configuration reconciler calls ``RevisionCollector.collect`` after each reconcile of a
Configuration. Of its revisions, the *active* ones are never collected: the latest ready
one, one the Route labeller has not marked ``serving.knative.dev/routingState=reserve``
(routed, or never routed yet), and one with ``serving.knative.dev/no-gc: "true"``
(annotation or label). Of the others, oldest last-active first (``routingStateModified``,
else the creation time):

- a *stale* one — created longer than ``retain-since-create-time`` ago *and* last active
  longer than ``retain-since-last-active-time`` ago (a ``disabled`` key does not hold a
  revision back; both disabled: nothing is stale) — is deleted while more than
  ``min-non-active-revisions`` non-active ones remain;
- then, of those left, all but the newest ``max-non-active-revisions`` are deleted
  (``disabled``: no limit).

``stale_revisions`` is the pure decision, taking ``now``; ``collect`` lists, deletes and
says when to look again (when the next revision turns stale).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.config import SERVING_NS, Config, parse_go_duration
from shoal.api.errors import NotFound
from shoal.api.serving import keys
from shoal.client.base import Client

REVISIONS = default_catalog().require("revisions")
NO_GC = keys.GROUP + "/no-gc"
DISABLED = "disabled"
Obj = dict[str, Any]
log = logging.getLogger("shoal.serving.gc")


@dataclass(frozen=True)
class GCConfig:
    """``config-gc``; ``None`` is ``disabled``. Knative's defaults."""

    retain_since_create: float | None = 48 * 3600.0
    retain_since_last_active: float | None = 15 * 3600.0
    min_non_active: int = 20
    max_non_active: int | None = 1000

    @classmethod
    def of(cls, config: Config) -> GCConfig:
        """Read ``config-gc``; a value that does not parse keeps Knative's default."""
        default = cls()

        def value(key: str) -> str:
            return config.value(SERVING_NS, "config-gc", key).strip().lower()

        def seconds(key: str, fallback: float | None) -> float | None:
            text = value(key)
            if text == DISABLED:
                return None
            parsed = parse_go_duration(text)
            return parsed if parsed is not None and parsed >= 0 else fallback

        def count(key: str, fallback: int | None, *, may_disable: bool) -> int | None:
            text = value(key)
            if may_disable and text == DISABLED:
                return None
            try:
                parsed = int(text)
            except ValueError:
                return fallback
            return parsed if parsed >= 0 else fallback

        return cls(
            retain_since_create=seconds("retain-since-create-time",
                                        default.retain_since_create),
            retain_since_last_active=seconds("retain-since-last-active-time",
                                             default.retain_since_last_active),
            min_non_active=count("min-non-active-revisions", default.min_non_active,
                                 may_disable=False) or 0,
            max_non_active=count("max-non-active-revisions", default.max_non_active,
                                 may_disable=True),
        )

    @property
    def disabled(self) -> bool:
        return (self.max_non_active is None and self.retain_since_create is None
                and self.retain_since_last_active is None)


def _time(text: object) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return 0.0


def created_at(revision: Obj) -> float:
    return _time(revision["metadata"].get("creationTimestamp"))


def last_active(revision: Obj) -> float:
    """``routingStateModified`` when the labeller set it, else the creation time."""
    modified = (revision["metadata"].get("annotations") or {}).get(keys.ROUTING_STATE_MODIFIED)
    return _time(modified) if modified else created_at(revision)


def is_active(revision: Obj, latest_ready: str) -> bool:
    meta = revision["metadata"]
    if meta["name"] == latest_ready:
        return True
    for marks in (meta.get("annotations") or {}, meta.get("labels") or {}):
        if str(marks.get(NO_GC, "")).lower() == "true":
            return True
    return (meta.get("labels") or {}).get(keys.ROUTING_STATE_LABEL) != "reserve"


def stale_from(revision: Obj, gc: GCConfig) -> float | None:
    """When ``revision`` turns stale (``None``: never, both time keys disabled)."""
    if gc.retain_since_create is None and gc.retain_since_last_active is None:
        return None
    moments = [0.0]
    if gc.retain_since_create is not None:
        moments.append(created_at(revision) + gc.retain_since_create)
    if gc.retain_since_last_active is not None:
        moments.append(last_active(revision) + gc.retain_since_last_active)
    return max(moments)


def stale_revisions(revisions: list[Obj], latest_ready: str, gc: GCConfig,
                    now: float) -> tuple[list[str], float | None]:
    """(names to delete, seconds until the next non-active revision turns stale)."""
    if gc.disabled or len(revisions) <= gc.min_non_active:
        return [], None
    non_active = [r for r in revisions if not is_active(r, latest_ready)]
    if len(non_active) <= gc.min_non_active:
        return [], None
    non_active.sort(key=lambda r: (last_active(r), created_at(r), r["metadata"]["name"]))
    doomed: list[str] = []
    kept: list[Obj] = []
    next_stale: float | None = None
    for revision in non_active:
        remaining = len(non_active) - len(doomed)
        when = stale_from(revision, gc)
        if remaining > gc.min_non_active and when is not None and when <= now:
            doomed.append(revision["metadata"]["name"])
            continue
        kept.append(revision)
        if when is not None and when > now:
            next_stale = when if next_stale is None else min(next_stale, when)
    if gc.max_non_active is not None and len(kept) > gc.max_non_active:
        excess = len(kept) - gc.max_non_active
        doomed.extend(r["metadata"]["name"] for r in kept[:excess])  # the oldest
    return doomed, None if next_stale is None else next_stale - now


class RevisionCollector:
    """Deletes a Configuration's collectable revisions; see the module doc."""

    def __init__(self, client: Client, config: Callable[[], Config], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.config = config
        self.clock = clock

    async def collect(self, configuration: Obj) -> float | None:
        """Collect; returns the seconds until another revision may turn stale, if any."""
        gc = GCConfig.of(self.config())
        if gc.disabled:
            return None
        meta = configuration["metadata"]
        listed = await self.client.list(
            REVISIONS, meta["namespace"],
            label_selector=f"{keys.CONFIGURATION_LABEL}={meta['name']}")
        latest_ready = str((configuration.get("status") or {}).get(
            "latestReadyRevisionName") or "")
        doomed, wait = stale_revisions(listed.items, latest_ready, gc, self.clock())
        for name in doomed:
            log.info("collecting revision %s/%s", meta["namespace"], name)
            with contextlib.suppress(NotFound):
                await self.client.delete(REVISIONS, name, meta["namespace"])
        return wait
