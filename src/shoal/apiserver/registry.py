"""The API's semantics over the store, independent of HTTP.

Both the HTTP handlers and the in-process client call the registry, so a controller running
in ``shoal up`` sees exactly what kubectl sees. It owns: admission (defaults and validation,
reading Knative's ConfigMaps), server-owned metadata (uid, creationTimestamp, generation,
resourceVersion), optimistic concurrency (409 on a stale resourceVersion), the ``status``
subresource, patches, finalizers and ``deletionTimestamp``, and garbage collection through
``ownerReferences`` (background, foreground and orphan propagation).
"""

from __future__ import annotations

import builtins
import copy
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shoal.api.catalog import Catalog
from shoal.api.config import DEFAULT_CONFIGMAPS, EVENTING_NS, SERVING_NS, AdmissionContext, Config
from shoal.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    Invalid,
    NotFound,
    UnsupportedMediaType,
)
from shoal.api.types import ResourceType
from shoal.apiserver import admission, patch
from shoal.apiserver.selectors import selector_predicate
from shoal.store import Change, KeyExists, KeyMissing, Store, VersionConflict

Obj = dict[str, Any]
Clock = Callable[[], datetime]

SYSTEM_NAMESPACES = ("default", SERVING_NS, EVENTING_NS)
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Written:
    """The result of a write: the object as stored (or as it would be, on dry run)."""

    object: Obj
    warnings: list[str] = field(default_factory=list)


class Registry:
    def __init__(self, store: Store, catalog: Catalog, *,
                 clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self._config = Config(self._load_config())
        store.subscribe(self._on_change)

    # -- configuration -------------------------------------------------------------------

    def _load_config(self) -> dict[tuple[str, str], dict[str, str]]:
        maps = {}
        for ns in (SERVING_NS, EVENTING_NS):
            for obj in self.store.list("/configmaps", ns):
                maps[(ns, obj["metadata"]["name"])] = dict(obj.get("data") or {})
        return maps

    def _on_change(self, change: Change) -> None:
        if change.resource == "/configmaps" and change.namespace in (SERVING_NS, EVENTING_NS):
            self._config = Config(self._load_config())

    @property
    def config(self) -> Config:
        return self._config

    def context(self, user: str, old: Any = None) -> AdmissionContext:
        return AdmissionContext(config=self._config, user=user, now=self.clock(), old=old)

    def bootstrap(self) -> None:
        """Create the system namespaces and Knative's ConfigMaps with their defaults."""
        ns_type = self._type("/namespaces")
        cm_type = self._type("/configmaps")
        for ns in SYSTEM_NAMESPACES:
            if self.store.get("/namespaces", "", ns) is None:
                self.create(ns_type, "", {"metadata": {"name": ns}})
        for (ns, name), data in DEFAULT_CONFIGMAPS.items():
            if self.store.get("/configmaps", ns, name) is None:
                self.create(cm_type, ns, {"metadata": {"name": name}, "data": dict(data)})

    def _type(self, key: str) -> ResourceType:
        rt = self.catalog.by_key(key)
        if rt is None:
            raise NotFound(f"the server could not find the requested resource ({key})")
        return rt

    # -- reads ---------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.get(rt.key, self._ns(rt, namespace), name)
        if obj is None:
            raise self._not_found(rt, name)
        return obj

    def list(self, rt: ResourceType, namespace: str | None, label_selector: str = "",
             field_selector: str = "") -> tuple[builtins.list[Obj], str]:
        """Matching objects and the resourceVersion to watch from after them."""
        rv = str(self.store.revision)
        ns = None if namespace is None else self._ns(rt, namespace)
        items = self.store.list(rt.key, ns)
        predicate = selector_predicate(label_selector, field_selector)
        if predicate is not None:
            items = [o for o in items if predicate(o)]
        return items, rv

    def list_raw(self, rt: ResourceType, namespace: str | None) -> tuple[builtins.list[str], str]:
        """Stored JSON of every object, unparsed: the fast path of an unfiltered list."""
        ns = None if namespace is None else self._ns(rt, namespace)
        return self.store.list_raw(rt.key, ns), str(self.store.revision)

    # -- writes --------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Obj, *, dry_run: bool = False,
               field_validation: str = "Strict", user: str = "system:admin") -> Written:
        body = self._envelope(rt, namespace, body)
        obj, warnings = admission.parse(rt, body, field_validation)
        meta = obj.metadata
        ns = self._ns(rt, namespace)
        if rt.namespaced:
            meta.namespace = ns
            if self.store.get("/namespaces", "", ns) is None:
                raise NotFound(f'namespaces "{ns}" not found',
                               {"name": ns, "kind": "namespaces"})
        elif meta.namespace is not None:
            meta.namespace = None
            meta.model_fields_set.discard("namespace")
        if not meta.name and meta.generate_name:
            meta.name = meta.generate_name + "".join(
                secrets.choice(_NAME_CHARS) for _ in range(5))
        meta.uid = str(uuid.uuid4())
        meta.creation_timestamp = rfc3339(self.clock())
        meta.resource_version = None
        meta.deletion_timestamp = None
        meta.model_fields_set.discard("deletion_timestamp")
        if rt.has_generation:
            meta.generation = 1
        if rt.status_subresource and "status" in type(obj).model_fields:
            obj.status = None  # type: ignore[attr-defined]
            obj.model_fields_set.discard("status")
        admission.admit(rt, obj, self.context(user))
        stored = self._finish(rt, obj.dump())
        if dry_run:
            return Written(stored, warnings)
        try:
            self.store.create(rt.key, ns, stored["metadata"]["name"], stored)
        except KeyExists:
            name = stored["metadata"]["name"]
            raise AlreadyExists(f'{rt.qualified} "{name}" already exists',
                                self._details(rt, name)) from None
        refs = stored["metadata"].get("ownerReferences") or []
        if refs and all(self.store.get_by_uid(r.get("uid", "")) is None for r in refs):
            # Created for an owner that is already gone (a controller racing its owner's
            # deletion): the garbage collector's verdict, at once.
            self.delete(rt, ns, stored["metadata"]["name"], propagation="Background")
        return Written(stored, warnings)

    def update(self, rt: ResourceType, namespace: str, name: str, body: Obj, *,
               subresource: str = "", dry_run: bool = False, field_validation: str = "Strict",
               user: str = "system:admin") -> Written:
        body = self._envelope(rt, namespace, body)
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise BadRequest(f"the name of the object ({body_name}) does not match the name "
                             f"on the URL ({name})")
        current = self.get(rt, namespace, name)
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if not rv:
            raise Invalid.of(rt.kind, rt.group, name, [FieldError(
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update")])
        if str(rv) != current["metadata"]["resourceVersion"]:
            raise self._conflict(rt, name)
        obj, warnings = admission.parse(rt, body, field_validation, name)
        written = self._commit(rt, current, obj.dump(), subresource=subresource,
                               dry_run=dry_run, user=user)
        written.warnings[:0] = warnings
        return written

    def patch(self, rt: ResourceType, namespace: str, name: str, body: Any, patch_type: str,
              *, subresource: str = "", dry_run: bool = False,
              field_validation: str = "Strict", user: str = "system:admin") -> Written:
        current = self.get(rt, namespace, name)
        if patch_type == "merge":
            if not isinstance(body, dict):
                raise BadRequest("a merge patch must be a JSON object")
            patched = patch.merge_patch(current, body)
        elif patch_type == "json":
            patched = patch.json_patch(current, body)
        elif patch_type == "strategic" and rt.strategic_merge_patch:
            if not isinstance(body, dict):
                raise BadRequest("a strategic merge patch must be a JSON object")
            patched = patch.strategic_merge_patch(current, body)
        else:
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json")
        if not isinstance(patched, dict):
            raise BadRequest("the patch does not leave an object")
        rv = (patched.get("metadata") or {}).get("resourceVersion")
        if rv and str(rv) != current["metadata"]["resourceVersion"]:
            raise self._conflict(rt, name)
        patched = self._envelope(rt, namespace, patched)
        obj, warnings = admission.parse(rt, patched, field_validation, name)
        written = self._commit(rt, current, obj.dump(), subresource=subresource,
                               dry_run=dry_run, user=user)
        written.warnings[:0] = warnings
        return written

    def _commit(self, rt: ResourceType, current: Obj, new: Obj, *, subresource: str,
                dry_run: bool, user: str) -> Written:
        """Write ``new`` over ``current`` with the rules of an update of (sub)resource."""
        if subresource not in ("", "status"):
            raise NotFound(f"the server could not find the requested resource "
                           f"({rt.plural}/{subresource})")
        errors = admission.immutable_metadata_errors(current, new)
        name = current["metadata"]["name"]
        if errors:
            raise Invalid.of(rt.kind, rt.group, name, errors)
        if subresource == "status":
            result = copy.deepcopy(current)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        else:
            meta = new.setdefault("metadata", {})
            for key in ("uid", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "namespace", "name", "generation"):
                if key in current["metadata"]:
                    meta[key] = current["metadata"][key]
                else:
                    meta.pop(key, None)
            if rt.status_subresource:
                if "status" in current:
                    new["status"] = current["status"]
                else:
                    new.pop("status", None)
            old_model = rt.model.model_validate(current)
            obj = rt.model.model_validate(new)
            admission.admit(rt, obj, self.context(user, old=old_model))
            result = self._finish(rt, obj.dump())
            if rt.has_generation and _spec_of(result) != _spec_of(current):
                result["metadata"]["generation"] = int(current["metadata"].get(
                    "generation", 1)) + 1
            if current["metadata"].get("deletionTimestamp"):
                added = set(result["metadata"].get("finalizers") or []) - set(
                    current["metadata"].get("finalizers") or [])
                if added:
                    raise Forbidden(
                        f"no new finalizers can be added if the object is being deleted, "
                        f"found new finalizers {sorted(added)}")
        if dry_run:
            return Written(result)
        ns = current["metadata"].get("namespace", "")
        expected = int(current["metadata"]["resourceVersion"])
        if result["metadata"].get("deletionTimestamp") and not result["metadata"].get(
                "finalizers"):
            self._remove(rt, ns, name, expected)
            return Written(result)
        try:
            self.store.update(rt.key, ns, name, result, expected_rv=expected)
        except VersionConflict:
            raise self._conflict(rt, name) from None
        return Written(result)

    # -- deletion ------------------------------------------------------------------------

    def delete(self, rt: ResourceType, namespace: str, name: str, *,
               propagation: str = "Background", preconditions: Obj | None = None,
               dry_run: bool = False) -> Obj:
        """Delete now, or mark for deletion while finalizers (or dependents) remain."""
        current = self.get(rt, namespace, name)
        meta = current["metadata"]
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise Conflict(f"Precondition failed: UID in precondition: {pre['uid']}, "
                           f"UID in object meta: {meta.get('uid')}", self._details(rt, name))
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise self._conflict(rt, name)
        if rt.kind == "Namespace" and name in SYSTEM_NAMESPACES:
            raise Forbidden(f'namespaces "{name}" is forbidden: this namespace may not be '
                            f"deleted", self._details(rt, name))
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise BadRequest(f"unknown propagationPolicy {propagation!r}")
        if dry_run:
            return current
        ns = meta.get("namespace", "")
        uid = meta["uid"]
        if propagation == "Orphan":
            self._orphan(uid)
        finalizers = list(meta.get("finalizers") or [])
        if propagation == "Foreground" and self.store.dependents(uid) and (
                FOREGROUND not in finalizers):
            finalizers.append(FOREGROUND)
        if not finalizers:
            return self._remove(rt, ns, name, None)
        if not meta.get("deletionTimestamp") or finalizers != meta.get("finalizers"):
            marked = copy.deepcopy(current)
            marked["metadata"]["finalizers"] = finalizers
            marked["metadata"].setdefault("deletionTimestamp", rfc3339(self.clock()))
            marked["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            if rt.has_generation:
                marked["metadata"]["generation"] = int(meta.get("generation", 1)) + 1
            self.store.update(rt.key, ns, name, marked)
            current = marked
        if FOREGROUND in finalizers:
            for dep_key, dep_ns, dep_name in self.store.dependents(uid):
                dep_type = self.catalog.by_key(dep_key)
                if dep_type is not None and self.store.get(dep_key, dep_ns, dep_name):
                    self.delete(dep_type, dep_ns, dep_name, propagation="Foreground")
            self._finish_foreground(uid)
            current = self.store.get(rt.key, ns, name) or current
        return current

    def delete_collection(self, rt: ResourceType, namespace: str | None, *,
                          label_selector: str = "", field_selector: str = "",
                          propagation: str = "Background", dry_run: bool = False,
                          ) -> builtins.list[Obj]:
        items, _ = self.list(rt, namespace, label_selector, field_selector)
        deleted = []
        for obj in items:
            meta = obj["metadata"]
            try:
                deleted.append(self.delete(rt, meta.get("namespace", ""), meta["name"],
                                           propagation=propagation, dry_run=dry_run))
            except NotFound:
                continue
        return deleted

    def _remove(self, rt: ResourceType, ns: str, name: str, expected: int | None) -> Obj:
        """Take the object out of the store, then collect what it owned."""
        try:
            obj = self.store.delete(rt.key, ns, name, expected_rv=expected)
        except KeyMissing:
            raise self._not_found(rt, name) from None
        except VersionConflict:
            raise self._conflict(rt, name) from None
        uid = obj["metadata"].get("uid", "")
        if rt.kind == "Namespace":
            self._empty_namespace(name)
        self._collect(uid)
        for ref in obj["metadata"].get("ownerReferences") or []:
            self._finish_foreground(ref.get("uid", ""))
        return obj

    def _empty_namespace(self, namespace: str) -> None:
        for key, name in self.store.names_in_namespace(namespace):
            rt = self.catalog.by_key(key)
            if rt is not None and self.store.get(key, namespace, name) is not None:
                self._remove(rt, namespace, name, None)

    def _collect(self, owner_uid: str) -> None:
        """Background garbage collection: dependents whose every owner is gone go too."""
        for key, ns, name in self.store.dependents(owner_uid):
            dep = self.store.get(key, ns, name)
            rt = self.catalog.by_key(key)
            if dep is None or rt is None:
                continue
            refs = dep["metadata"].get("ownerReferences") or []
            alive = [r for r in refs if r.get("uid") != owner_uid
                     and self.store.get_by_uid(r.get("uid", "")) is not None]
            if alive:
                dep["metadata"]["ownerReferences"] = alive
                self.store.update(key, ns, name, dep)
            else:
                self.delete(rt, ns, name, propagation="Background")

    def _orphan(self, owner_uid: str) -> None:
        for key, ns, name in self.store.dependents(owner_uid):
            dep = self.store.get(key, ns, name)
            if dep is None:
                continue
            refs = [r for r in dep["metadata"].get("ownerReferences") or []
                    if r.get("uid") != owner_uid]
            if refs:
                dep["metadata"]["ownerReferences"] = refs
            else:
                dep["metadata"].pop("ownerReferences", None)
            self.store.update(key, ns, name, dep)

    def _finish_foreground(self, owner_uid: str) -> None:
        """An owner in foreground deletion goes once its last dependent is gone."""
        if not owner_uid:
            return
        found = self.store.get_by_uid(owner_uid)
        if found is None:
            return
        key, owner = found
        meta = owner["metadata"]
        finalizers = meta.get("finalizers") or []
        if FOREGROUND not in finalizers or self.store.dependents(owner_uid):
            return
        rest = [f for f in finalizers if f != FOREGROUND]
        ns = meta.get("namespace", "")
        rt = self.catalog.by_key(key)
        if rt is None:
            return
        if rest:
            meta["finalizers"] = rest
            self.store.update(key, ns, meta["name"], owner)
        else:
            self._remove(rt, ns, meta["name"], None)

    # -- helpers -------------------------------------------------------------------------

    def _ns(self, rt: ResourceType, namespace: str) -> str:
        return namespace if rt.namespaced else ""

    def _envelope(self, rt: ResourceType, namespace: str, body: Any) -> Obj:
        """Check apiVersion, kind and namespace of a body against the URL."""
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON or YAML object")
        result: Obj = {str(k): v for k, v in body.items()}
        api_version = result.get("apiVersion") or rt.api_version
        kind = result.get("kind") or rt.kind
        if kind != rt.kind or api_version != rt.api_version:
            raise BadRequest(
                f"the API version in the data ({api_version}) and kind ({kind}) do not "
                f"match the resource {rt.qualified} ({rt.api_version}, {rt.kind})")
        result["apiVersion"], result["kind"] = rt.api_version, rt.kind
        meta = result.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise BadRequest("metadata must be an object")
        if rt.namespaced and meta and namespace and meta.get("namespace") not in (
                None, "", namespace):
            raise BadRequest("the namespace of the provided object does not match the "
                             "namespace sent on the request")
        return result

    @staticmethod
    def _finish(rt: ResourceType, obj: Obj) -> Obj:
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return {"apiVersion": rt.api_version, "kind": rt.kind,
                **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}}

    @staticmethod
    def _details(rt: ResourceType, name: str) -> Obj:
        details: Obj = {"name": name, "kind": rt.plural}
        if rt.group:
            details["group"] = rt.group
        return details

    def _not_found(self, rt: ResourceType, name: str) -> NotFound:
        return NotFound(f'{rt.qualified} "{name}" not found', self._details(rt, name))

    def _conflict(self, rt: ResourceType, name: str) -> Conflict:
        return Conflict(f'Operation cannot be fulfilled on {rt.qualified} "{name}": the '
                        f"object has been modified; please apply your changes to the latest "
                        f"version and try again", self._details(rt, name))


def _spec_of(obj: Obj) -> str:
    """Everything that is neither metadata nor status: a change bumps ``generation``."""
    return json.dumps({k: v for k, v in obj.items() if k not in ("metadata", "status")},
                      sort_keys=True)
