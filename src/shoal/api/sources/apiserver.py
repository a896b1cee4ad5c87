"""The ApiServerSource kind (``sources.knative.dev/v1``): API changes as CloudEvents.

An ApiServerSource watches the listed resources of Shoal's own API (optionally narrowed by
label selectors, an owner kind and namespaces) and sends an event for each add, update and
delete: a reference to the object (mode ``Reference``, the default) or the object itself
(mode ``Resource``). Called by admission in the API server.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import EVENTING_NS, AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.eventing.filters import SubscriptionsAPIFilter, check_filters
from shoal.api.model import KObject, Model
from shoal.api.sources.base import (
    LabelSelector,
    SourceSpec,
    SourceStatus,
    check_label_selector,
    check_source_spec,
    default_source_spec,
)

REFERENCE_MODE = "Reference"
RESOURCE_MODE = "Resource"
MODES = (REFERENCE_MODE, RESOURCE_MODE)


class APIVersionKind(Model):
    """An apiVersion and a kind, naming a kind of object."""

    api_version: str | None = Field(default=None, description="APIVersion of the resource.")
    kind: str | None = Field(default=None, description="Kind of the resource.")


class APIVersionKindSelector(APIVersionKind):
    """A kind of object to watch, optionally narrowed by a label selector."""

    selector: LabelSelector | None = Field(
        default=None,
        description="LabelSelector filters this source to objects to those "
        "resources pass the label selector.",
    )


class ApiServerSourceSpec(SourceSpec):
    """The desired state of an ApiServerSource."""

    resources: list[APIVersionKindSelector] | None = Field(
        default=None,
        description="Resource are the resources this source will track and "
        "send related lifecycle events from the Kubernetes ApiServer. At least one.",
    )
    owner: APIVersionKind | None = Field(
        default=None,
        description="ResourceOwner is an additional filter to only track "
        "resources that are owned by a specific resource type.",
    )
    mode: str | None = Field(
        default=None,
        description="EventMode controls the format of the event: Reference "
        "(the default) sends a dataref of the object, Resource sends the full object.",
    )
    service_account_name: str | None = Field(
        default=None,
        description="ServiceAccountName is the name of the ServiceAccount to "
        "use to run this source. Defaults to default.",
    )
    namespace_selector: LabelSelector | None = Field(
        default=None,
        description="NamespaceSelector is a label selector to capture the "
        "namespaces that should be watched by the source.",
    )
    filters: list[SubscriptionsAPIFilter] | None = Field(
        default=None,
        description="Filters is an experimental field for conditional event "
        "filtering (feature new-apiserversource-filters).",
    )


class ApiServerSourceStatus(SourceStatus):
    """The observed state of an ApiServerSource."""

    namespaces: list[str] | None = Field(
        default=None,
        description="Namespaces show the namespaces currently watched by the ApiServerSource.",
    )


def _check_api_version(value: str | None, errs: FieldErrors) -> None:
    if not value or not value.strip():
        errs.required("apiVersion")
    elif value.count("/") > 1:
        errs.invalid("apiVersion", value, "unexpected GroupVersion string")


def _check_kind(value: str | None, errs: FieldErrors) -> None:
    if not value or not value.strip():
        errs.required("kind")


class ApiServerSource(KObject):
    """ApiServerSource is an event source that brings API server events into Knative."""

    spec: ApiServerSourceSpec = Field(default_factory=ApiServerSourceSpec)
    status: ApiServerSourceStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        if not self.spec.mode:
            self.spec.mode = REFERENCE_MODE
        if not self.spec.service_account_name:
            self.spec.service_account_name = "default"
        default_source_spec(self.spec, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        spec = self.spec
        at = errs.at("spec")
        if spec.mode not in MODES:
            at.not_supported("mode", spec.mode, list(MODES))
        check_source_spec(spec, ctx, at)
        if not spec.resources:
            at.required("resources")
        for i, res in enumerate(spec.resources or []):
            res_at = at.at("resources", i)
            _check_api_version(res.api_version, res_at)
            _check_kind(res.kind, res_at)
            if res.selector is not None:
                check_label_selector(res.selector, res_at.at("selector"))
        if spec.owner is not None:
            _check_api_version(spec.owner.api_version, at.at("owner"))
            _check_kind(spec.owner.kind, at.at("owner"))
        if spec.namespace_selector is not None:
            check_label_selector(spec.namespace_selector, at.at("namespaceSelector"))
        if spec.filters:
            if ctx.config.feature(EVENTING_NS, "new-apiserversource-filters") != "enabled":
                at.forbidden("filters", "the new-apiserversource-filters feature is disabled")
            else:
                check_filters(spec.filters, at.at("filters"))
