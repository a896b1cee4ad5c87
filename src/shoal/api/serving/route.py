"""The Route kind: a named, addressable split of traffic among revisions.

A Service owns one Route of its own name; users may also create Routes over their own
Configurations. The Route reconciler resolves each target to a revision and publishes the
routing table the gateway serves, and ``status.url`` / ``status.traffic`` with the URLs.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import Addressable, KObject, Model, Status
from shoal.api.serving import annotation_rules, keys, metadata
from shoal.api.serving.traffic import TrafficTarget, check_traffic, default_traffic
from shoal.api.serving.userinfo import UserStamped


class RouteSpec(Model):
    """How traffic is split among revisions and configurations."""

    traffic: list[TrafficTarget] | None = Field(
        default=None, description="Traffic targets; their percents sum to 100."
    )


class RouteStatus(Status):
    """The observed state of a route: its URL, address and resolved traffic."""

    url: str | None = Field(default=None, description="The URL the route is reached at.")
    address: Addressable | None = None
    addresses: list[Addressable] | None = None
    traffic: list[TrafficTarget] | None = None


class Route(UserStamped):
    """Named traffic split among revisions, reachable at a URL."""

    spec: RouteSpec = Field(default_factory=RouteSpec)
    status: RouteStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        spec = self.spec
        traffic = default_traffic(spec.traffic, service=False)
        if traffic is not None:
            spec.traffic = traffic
        self.spec = spec
        self.stamp(ctx)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        stored = old if isinstance(old, Route) else None
        meta = errs.at("metadata")
        metadata.check_name(self.metadata, meta)
        metadata.check_labels(
            self.metadata,
            meta.at("labels"),
            known=(keys.SERVICE_UID_LABEL,),
            visibility=True,
            owners={keys.SERVICE_LABEL: "Service"},
        )
        annotation_rules.check_no_autoscaling(self.metadata.annotations, meta.at("annotations"))
        annotation_rules.check_serving(
            self.metadata.annotations, meta.at("annotations"), template=False
        )
        check_traffic(self.spec.traffic, errs.at("spec").at("traffic"), service=False)
        if stored is not None:
            self.settle(stored, ctx, errs)
