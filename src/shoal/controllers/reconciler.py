"""What a reconciler is: the contract between one kind's logic and the generic engine.

Each kind (Service, Configuration, Revision, Route, Broker, Trigger, ...) has one reconciler;
a ``Controller`` runs it. A reconciler declares the resource it reconciles (``rt``), the
other resources whose changes should bring an object back (``watches``), optionally a
``finalizer`` name, and implements ``reconcile`` (and ``finalize`` if it has a finalizer).

The engine hands ``reconcile`` a private copy of the object, decoded by ``decode``: a
``ModelReconciler`` gets the kind's pydantic model, a ``DictReconciler`` the JSON dict. The
reconciler fills in ``status`` and creates or updates the children it owns; it does not
write its own object. Afterwards the engine ``encode``s the copy, sets
``status.observedGeneration``, stamps ``lastTransitionTime`` on changed conditions and writes
the status if it differs from what was read. See ``errors`` for what raising means.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, cast

from shoal.api.model import KObject
from shoal.api.types import ResourceType
from shoal.controllers.cache import Obj, make_key

T = TypeVar("T")
M = TypeVar("M", bound=KObject)

KeyMapper = Callable[[Obj], Iterable[str]]
"""From an object of a watched resource to the keys of the objects to reconcile."""


@dataclass(frozen=True)
class ReconcileResult:
    """A successful reconcile that wants to run again after ``requeue_after`` seconds."""

    requeue_after: float | None = None


@dataclass(frozen=True)
class Watch:
    """Another resource whose changes enqueue keys of the reconciled resource."""

    rt: ResourceType
    keys: KeyMapper
    namespace: str | None = None
    label_selector: str = ""

    @classmethod
    def owned(
        cls, child: ResourceType, owner: ResourceType, *, controller_only: bool = True
    ) -> Watch:
        """Children of ``child`` type enqueue their owner (through ``ownerReferences``)."""
        return cls(child, owner_keys(owner, controller_only=controller_only))


def api_group(api_version: str) -> str:
    """``serving.knative.dev/v1`` -> ``serving.knative.dev``; ``v1`` -> ``""``."""
    group, sep, _ = api_version.rpartition("/")
    return group if sep else ""


def owner_keys(owner: ResourceType, *, controller_only: bool = True) -> KeyMapper:
    """Map an object to the keys of its owners of kind ``owner``.

    With ``controller_only`` (the default, as Knative's ``EnqueueControllerOf``) only the
    owner reference marked ``controller: true`` counts.
    """

    def keys(obj: Obj) -> list[str]:
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or "") if owner.namespaced else ""
        out = []
        for ref in meta.get("ownerReferences") or []:
            if controller_only and not ref.get("controller"):
                continue
            if ref.get("kind") != owner.kind:
                continue
            if api_group(str(ref.get("apiVersion") or "")) != owner.group:
                continue
            out.append(make_key(namespace, str(ref.get("name") or "")))
        return out

    return keys


def label_keys(name_label: str, namespace_label: str | None = None) -> KeyMapper:
    """Map an object to ``namespace/<value of name_label>``, as Knative's label enqueuers.

    The namespace is the object's own unless ``namespace_label`` names another label.
    """

    def keys(obj: Obj) -> list[str]:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        name = labels.get(name_label)
        if not name:
            return []
        if namespace_label is not None:
            namespace = str(labels.get(namespace_label) or "")
        else:
            namespace = str(meta.get("namespace") or "")
        return [make_key(namespace, str(name))]

    return keys


class Reconciler(Protocol[T]):
    """The contract the ``Controller`` runs. Subclass ``ModelReconciler`` or ``DictReconciler``
    to get the defaults; any object with these members will do."""

    @property
    def rt(self) -> ResourceType: ...

    @property
    def finalizer(self) -> str:
        """The finalizer this reconciler owns, or ``""`` for none."""
        ...

    @property
    def watches(self) -> Sequence[Watch]: ...

    def decode(self, obj: Obj) -> T:
        """The object ``reconcile`` receives, from a private copy of the cached dict."""
        ...

    def encode(self, obj: T) -> Obj:
        """The JSON form of the object after ``reconcile``; only its status is used."""
        ...

    async def reconcile(self, obj: T) -> ReconcileResult | None: ...

    async def finalize(self, obj: T) -> None:
        """Clean up before deletion; called only while the object carries ``finalizer``.
        Returning lets the engine remove the finalizer; raise to retry."""
        ...

    async def deleted(self, key: str) -> None:
        """The object is gone from the cache (forget any in-memory state about it)."""
        ...


class BaseReconciler(ABC, Generic[T]):
    """Defaults: no finalizer, no extra watches, nothing to do on finalize or deletion."""

    rt: ResourceType
    finalizer: str = ""
    watches: Sequence[Watch] = ()

    @abstractmethod
    def decode(self, obj: Obj) -> T: ...

    @abstractmethod
    def encode(self, obj: T) -> Obj: ...

    @abstractmethod
    async def reconcile(self, obj: T) -> ReconcileResult | None: ...

    async def finalize(self, obj: T) -> None:
        return None

    async def deleted(self, key: str) -> None:
        return None


class ModelReconciler(BaseReconciler[M]):
    """A reconciler that works on the kind's pydantic model (``rt.model``)."""

    def decode(self, obj: Obj) -> M:
        return cast(M, self.rt.model.model_validate(obj))

    def encode(self, obj: M) -> Obj:
        return obj.dump()


class DictReconciler(BaseReconciler[Obj]):
    """A reconciler that works on the JSON dict as the API returned it."""

    def decode(self, obj: Obj) -> Obj:
        return obj

    def encode(self, obj: Obj) -> Obj:
        return obj
