"""Which objects depend on which others, for watches that ownerReferences cannot express.

A Route depends on the Configurations and Revisions it names, a Trigger on its subscriber,
a source on its sink; none of them owns what it names. As Knative's ``tracker``: the
reconciler calls ``track(ref, by=key)`` each time it reconciles ``key`` and reads ``ref``,
and declares ``Watch(rt, tracker.mapper(rt))`` for each resource it may reference. A change
to a tracked object then enqueues every key that tracked it within the last ``lease``
seconds (re-tracking on each reconcile renews the lease; the resync period keeps leases of
live objects fresh, so it should be shorter than the lease).
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.api.types import ResourceType
from shoal.controllers.cache import Obj
from shoal.controllers.clock import Clock, SystemClock
from shoal.controllers.reconciler import KeyMapper, api_group

DEFAULT_LEASE = 1800.0


@dataclass(frozen=True)
class Reference:
    """An object named by group, kind, namespace and name (any version)."""

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def to(cls, rt: ResourceType, namespace: str, name: str) -> Reference:
        return cls(rt.group, rt.kind, namespace if rt.namespaced else "", name)

    @classmethod
    def of(cls, obj: Obj) -> Reference:
        meta = obj.get("metadata") or {}
        return cls(
            api_group(str(obj.get("apiVersion") or "")),
            str(obj.get("kind") or ""),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
        )


class Tracker:
    def __init__(self, *, lease: float = DEFAULT_LEASE, clock: Clock | None = None) -> None:
        self.lease = lease
        self.clock: Clock = clock or SystemClock()
        self._by_ref: dict[Reference, dict[str, float]] = {}  # ref -> key -> expiry

    def track(self, ref: Reference, by: str) -> None:
        """Enqueue ``by`` when the object ``ref`` changes, for the next ``lease`` seconds."""
        self._by_ref.setdefault(ref, {})[by] = self.clock.monotonic() + self.lease

    def forget(self, by: str) -> None:
        """Stop tracking anything for ``by`` (its object was deleted)."""
        for ref in list(self._by_ref):
            keys = self._by_ref[ref]
            keys.pop(by, None)
            if not keys:
                del self._by_ref[ref]

    def keys_for(self, ref: Reference) -> list[str]:
        """The keys tracking ``ref`` whose lease has not run out (expired ones are dropped)."""
        keys = self._by_ref.get(ref)
        if not keys:
            return []
        now = self.clock.monotonic()
        for key in [k for k, expiry in keys.items() if expiry < now]:
            del keys[key]
        if not keys:
            del self._by_ref[ref]
        return sorted(keys)

    def mapper(self, rt: ResourceType) -> KeyMapper:
        """A ``Watch`` key mapper for objects of ``rt`` (their apiVersion/kind may be absent
        in watch events, so the reference is built from ``rt``)."""

        def keys(obj: Obj) -> list[str]:
            meta = obj.get("metadata") or {}
            return self.keys_for(
                Reference.to(rt, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            )

        return keys
