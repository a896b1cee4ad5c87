"""The EventType reconciler: an EventType is Ready when what it references exists.

Knative's v1beta2 condition set: ``ReferenceExists`` (True with reason ``ReferenceNotSet``
when there is no reference) under ``Ready``. EventTypes recorded by the broker ingress
reference their broker and are owned by it.
"""

from __future__ import annotations

from shoal.api.catalog import default_catalog
from shoal.api.errors import NotFound
from shoal.api.eventing.eventtype import EventType
from shoal.api.model import Status
from shoal.client.base import Client
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult

EVENTTYPE_CONDITIONS = ConditionSet("Ready", ["ReferenceExists"])


class EventTypeReconciler(ModelReconciler[EventType]):
    rt = default_catalog().require("eventtypes")

    def __init__(self, client: Client) -> None:
        self.client = client

    async def reconcile(self, obj: EventType) -> ReconcileResult | None:
        status = obj.status = obj.status or Status()
        conditions = EVENTTYPE_CONDITIONS.manage(status)
        conditions.initialize()
        ref = obj.spec.reference
        if ref is None and obj.spec.broker:
            api_version, kind, name = "eventing.knative.dev/v1", "Broker", obj.spec.broker
        elif ref is not None:
            api_version, kind, name = ref.api_version or "", ref.kind or "", ref.name or ""
        else:
            conditions.mark_true("ReferenceExists", "ReferenceNotSet",
                                 "the EventType does not reference anything")
            return None
        rt = default_catalog().by_kind(api_version, kind)
        if rt is None:
            conditions.mark_false("ReferenceExists", "ReferenceDoesNotExist",
                                  f"{kind} ({api_version}) is not a kind this server knows")
            return None
        try:
            await self.client.get(rt, name, (ref.namespace if ref else None) or obj.namespace)
        except NotFound:
            conditions.mark_false("ReferenceExists", "ReferenceDoesNotExist",
                                  f'{kind} "{name}" does not exist')
            return ReconcileResult(requeue_after=30)
        conditions.mark_true("ReferenceExists")
        return None
