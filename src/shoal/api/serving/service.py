"""The Service kind (``ksvc``): a Configuration and a Route under one name.

What most users write. The Service reconciler creates a Configuration and a Route named
after it from ``spec.template`` and ``spec.traffic`` and mirrors their status (URL, latest
revisions, traffic) into its own.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import Addressable, KObject, Status
from shoal.api.serving import annotation_rules, metadata
from shoal.api.serving.configuration import ConfigurationSpec
from shoal.api.serving.traffic import TrafficTarget, check_traffic, default_traffic
from shoal.api.serving.userinfo import UserStamped


class ServiceSpec(ConfigurationSpec):
    """The revision template and how traffic is split among revisions."""

    traffic: list[TrafficTarget] | None = Field(
        default=None,
        description="Traffic targets; all traffic to the latest ready revision when unset.",
    )


class ServiceStatus(Status):
    """The observed state of a service: its URL, address, traffic and latest revisions."""

    url: str | None = Field(default=None, description="The URL the service is reached at.")
    address: Addressable | None = None
    addresses: list[Addressable] | None = None
    traffic: list[TrafficTarget] | None = None
    latest_created_revision_name: str | None = None
    latest_ready_revision_name: str | None = None


class Service(UserStamped):
    """A serverless workload: revisions of a template and a route to them."""

    spec: ServiceSpec = Field(default_factory=ServiceSpec)
    status: ServiceStatus | None = None

    stamp_when_owned: ClassVar[bool] = True

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        spec = self.spec
        spec.apply_defaults(ctx, self.name)
        traffic = default_traffic(spec.traffic, service=True)
        if traffic is not None:
            spec.traffic = traffic
        self.spec = spec
        self.stamp(ctx)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        stored = old if isinstance(old, Service) else None
        meta = errs.at("metadata")
        metadata.check_name(self.metadata, meta)
        metadata.check_labels(self.metadata, meta.at("labels"), visibility=True)
        annotation_rules.check_no_autoscaling(self.metadata.annotations, meta.at("annotations"))
        annotation_rules.check_serving(
            self.metadata.annotations, meta.at("annotations"), template=False
        )
        spec = errs.at("spec")
        self.spec.check(stored.spec if stored else None, self, ctx, spec)
        check_traffic(self.spec.traffic, spec.at("traffic"), service=True)
        if stored is not None:
            self.settle(stored, ctx, errs)
