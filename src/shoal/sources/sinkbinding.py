"""SinkBinding: ``K_SINK`` and ``K_CE_OVERRIDES`` in the containers of its subjects.

Knative binds through a webhook that rewrites the subject's pod template whenever it is
written. Shoal does it from the reconciler: for each subject (a Knative Service, by name or
by label selector, in the binding's namespace) it rewrites ``spec.template.spec.containers
[*].env`` as Knative's ``SinkBinding.Do`` does (drop ``K_SINK``, ``K_CE_OVERRIDES`` and
``K_CA_CERTS``, then append ``K_SINK`` and ``K_CE_OVERRIDES``), and writes the Service back
when that changed anything. The template changes, so the Service rolls a new Revision whose
instances see the sink; a new sink rolls another. A finalizer undoes the binding (the
variables are removed, rolling a Revision without them) before the SinkBinding goes.
Subjects are watched: a Service created or rewritten later is bound again.

Conditions as Knative's ``sinkbinding_lifecycle.go``: ``SinkProvided``,
``BindingAvailable`` (False ``SubjectMissing`` while no subject is found, or
``SubjectUnsupported`` for kinds other than a Knative Service), ``Ready``.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.errors import NotFound
from shoal.api.sources.base import SourceStatus
from shoal.api.sources.sinkbinding import Reference, SinkBinding
from shoal.apiserver.selectors import parse_label_selector
from shoal.client.base import Client
from shoal.controllers.cache import make_key
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.factory import InformerFactory
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch
from shoal.controllers.resolver import DestinationResolver
from shoal.controllers.tracker import Tracker
from shoal.sources.base import SINK_PROVIDED, ce_overrides_json, resolve_sink, sink_watches
from shoal.sources.selectors import selector_string

SINKBINDINGS = default_catalog().require("sinkbindings")
SERVICES = default_catalog().require("services")
BINDING_AVAILABLE = "BindingAvailable"
SINKBINDING_CONDITIONS = ConditionSet("Ready", [SINK_PROVIDED, BINDING_AVAILABLE])
FINALIZER = "sinkbindings.sources.knative.dev"
BOUND_VARIABLES = ("K_SINK", "K_CE_OVERRIDES", "K_CA_CERTS")
Obj = dict[str, Any]


def _supported(subject: Reference) -> bool:
    return (subject.api_version, subject.kind) == (SERVICES.api_version, SERVICES.kind)


def subject_matches(subject: Reference, obj: Obj) -> bool:
    """Whether ``obj`` (a Service in the binding's namespace) is one of the subjects."""
    if subject.name:
        return bool((obj.get("metadata") or {}).get("name") == subject.name)
    return parse_label_selector(selector_string(subject.selector))(obj)


def bound(template: Obj, env: list[Obj] | None) -> Obj:
    """``template`` (a Service's ``spec.template``) with the binding's variables undone, and
    then set to ``env`` unless it is None."""
    out = copy.deepcopy(template)
    for container in (out.get("spec") or {}).get("containers") or []:
        kept = [e for e in container.get("env") or [] if e.get("name") not in BOUND_VARIABLES]
        kept.extend(copy.deepcopy(env or []))
        if kept:
            container["env"] = kept
        else:
            container.pop("env", None)
    return out


class SinkBindingReconciler(ModelReconciler[SinkBinding]):
    rt = SINKBINDINGS
    finalizer = FINALIZER

    def __init__(self, client: Client, informers: InformerFactory,
                 resolver: DestinationResolver, tracker: Tracker) -> None:
        self.client = client
        self.bindings = informers.informer(SINKBINDINGS)
        self.resolver = resolver
        self.tracker = tracker
        self.watches = (*sink_watches(tracker), Watch(SERVICES, self._bindings_of))

    def _bindings_of(self, service: Obj) -> list[str]:
        namespace = str((service.get("metadata") or {}).get("namespace") or "")
        keys = []
        for obj in self.bindings.list(namespace):
            binding = SinkBinding.model_validate(obj)
            subject = binding.spec.subject
            if subject is not None and _supported(subject) and subject_matches(subject, service):
                keys.append(make_key(namespace, binding.name))
        return keys

    async def _subjects(self, obj: SinkBinding) -> list[Obj]:
        subject = obj.spec.subject
        assert subject is not None  # admission requires it
        if subject.name:
            try:
                return [await self.client.get(SERVICES, subject.name, obj.namespace)]
            except NotFound:
                return []
        found = await self.client.list(SERVICES, obj.namespace,
                                       label_selector=selector_string(subject.selector))
        return found.items

    async def _bind(self, service: Obj, env: list[Obj] | None) -> None:
        template = (service.get("spec") or {}).get("template") or {}
        desired = bound(template, env)
        if desired == template:
            return
        body = copy.deepcopy(service)
        body.setdefault("spec", {})["template"] = desired
        with contextlib.suppress(NotFound):  # gone meanwhile: nothing left to bind
            await self.client.update(SERVICES, body)

    async def reconcile(self, obj: SinkBinding) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        status = obj.status = obj.status or SourceStatus()
        conditions = SINKBINDING_CONDITIONS.manage(status)
        conditions.initialize()
        subject = obj.spec.subject
        if subject is None or not _supported(subject):
            kind = f"{subject.kind} ({subject.api_version})" if subject else "no subject"
            conditions.mark_false(BINDING_AVAILABLE, "SubjectUnsupported",
                                  f"{kind}: Shoal binds Knative Services "
                                  f"({SERVICES.api_version})")
            return None
        sink = await resolve_sink(self.resolver, obj.spec, obj.namespace, key, status,
                                  conditions)
        if sink is None:
            return ReconcileResult(requeue_after=10)
        subjects = await self._subjects(obj)
        if not subjects:
            conditions.mark_false(BINDING_AVAILABLE, "SubjectMissing",
                                  "no Service matches the subject")
            return None
        env = [{"name": "K_SINK", "value": sink},
               {"name": "K_CE_OVERRIDES", "value": ce_overrides_json(obj.spec)}]
        for service in subjects:
            await self._bind(service, env)
        conditions.mark_true(BINDING_AVAILABLE)
        return None

    async def finalize(self, obj: SinkBinding) -> None:
        if obj.spec.subject is None or not _supported(obj.spec.subject):
            return
        for service in await self._subjects(obj):
            await self._bind(service, None)

    async def deleted(self, key: str) -> None:
        self.tracker.forget(key)
