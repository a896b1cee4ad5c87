"""The Service reconciler: a Configuration and a Route of the Service's name, and its status.

As Knative's: the Service owns both children, keeps them in step with its spec, and
mirrors their state: ``ConfigurationsReady`` from the Configuration's Ready,
``RoutesReady`` from the Route's (only once the Route has seen the Configuration's latest
generation), the latest created and ready revisions, the URL, address and traffic.
"""

from __future__ import annotations

from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.model import Addressable
from shoal.api.serving.service import Service, ServiceStatus
from shoal.api.serving.traffic import TrafficTarget
from shoal.client.base import Client
from shoal.controllers.children import NotOwned, ensure
from shoal.controllers.conditions import ConditionManager, ConditionSet
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch, owner_keys
from shoal.controllers.serving.resources import make_configuration, make_route

SERVICES = default_catalog().require("ksvc")
CONFIGURATIONS = default_catalog().require("configurations")
ROUTES = default_catalog().require("routes")
SERVICE_CONDITIONS = ConditionSet("Ready", ["ConfigurationsReady", "RoutesReady"])
Obj = dict[str, Any]


def ready_of(obj: Obj) -> tuple[str, str, str]:
    """(status, reason, message) of an object's Ready condition, once it is current."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return "Unknown", "OutOfDate", "waiting for the latest generation to be observed"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            return (str(cond.get("status", "Unknown")), str(cond.get("reason") or ""),
                    str(cond.get("message") or ""))
    return "Unknown", "", ""


def mirror(conditions: ConditionManager, type_: str, child: Obj, kind: str) -> None:
    state, reason, message = ready_of(child)
    if state == "True":
        conditions.mark_true(type_)
    elif state == "False":
        conditions.mark_false(type_, reason or f"{kind}Failed", message)
    else:
        conditions.mark_unknown(type_, reason or f"{kind}NotReady", message)


class ServiceReconciler(ModelReconciler[Service]):
    rt = SERVICES
    watches = (Watch(CONFIGURATIONS, owner_keys(SERVICES)), Watch(ROUTES, owner_keys(SERVICES)))

    def __init__(self, client: Client) -> None:
        self.client = client

    async def reconcile(self, obj: Service) -> ReconcileResult | None:
        service = obj.dump()
        status = obj.status = obj.status or ServiceStatus()
        conditions = SERVICE_CONDITIONS.manage(status)
        conditions.initialize()
        try:
            config = await ensure(self.client, CONFIGURATIONS, make_configuration(service))
        except NotOwned as err:
            conditions.mark_false("ConfigurationsReady", "NotOwned", str(err))
            return None
        try:
            route = await ensure(self.client, ROUTES, make_route(service))
        except NotOwned as err:
            conditions.mark_false("RoutesReady", "NotOwned", str(err))
            return None

        config_status = config.get("status") or {}
        status.latest_created_revision_name = config_status.get("latestCreatedRevisionName")
        status.latest_ready_revision_name = config_status.get("latestReadyRevisionName")
        mirror(conditions, "ConfigurationsReady", config, "Configuration")

        route_status = route.get("status") or {}
        status.url = route_status.get("url")
        address = route_status.get("address")
        status.address = Addressable.model_validate(address) if address else None
        status.traffic = [TrafficTarget.model_validate(t)
                          for t in route_status.get("traffic") or []] or None
        mirror(conditions, "RoutesReady", route, "Route")
        return None
