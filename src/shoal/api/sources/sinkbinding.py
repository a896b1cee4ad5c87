"""The SinkBinding kind (``sources.knative.dev/v1``): gives workloads a sink to send to.

A SinkBinding injects ``K_SINK`` (and ``K_CE_OVERRIDES``) into the workloads named by its
subject: one object by name, or every object of a kind matching a label selector, in the
binding's own namespace. Defaulting fills the subject's namespace. Called by admission in the
API server.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import KObject, Model
from shoal.api.names import dns1123_label, dns1123_subdomain
from shoal.api.sources.base import (
    LabelSelector,
    SourceSpec,
    SourceStatus,
    check_label_selector,
    check_source_spec,
    default_source_spec,
)


class Reference(Model):
    """The workloads to bind: by name, or by kind and label selector."""

    api_version: str | None = Field(default=None, description="API version of the referent.")
    kind: str | None = Field(default=None, description="Kind of the referent.")
    namespace: str | None = Field(
        default=None,
        description="Namespace of the referent; defaulted to the binding's "
        "namespace, and must equal it.",
    )
    name: str | None = Field(
        default=None, description="Name of the referent. Mutually exclusive with selector."
    )
    selector: LabelSelector | None = Field(
        default=None, description="Selector of the referents. Mutually exclusive with name."
    )


class SinkBindingSpec(SourceSpec):
    """The desired state of a SinkBinding."""

    subject: Reference | None = Field(
        default=None,
        description='Subject references the resource(s) whose "runtime '
        'contract" should be augmented by Binding implementations. Required.',
    )


def _check_subject(subject: Reference, errs: FieldErrors) -> None:
    if not subject.api_version:
        errs.required("apiVersion")
    if not subject.kind:
        errs.required("kind")
    if not subject.namespace:
        errs.required("namespace")
    else:
        for problem in dns1123_label(subject.namespace):
            errs.invalid("namespace", subject.namespace, problem)
    if subject.selector is not None and subject.name:
        errs.forbidden("name", "expected exactly one, got both: name, selector")
    elif subject.selector is not None:
        check_label_selector(subject.selector, errs.at("selector"))
    elif subject.name:
        for problem in dns1123_subdomain(subject.name):
            errs.invalid("name", subject.name, problem)
    else:
        errs.required("name", "expected exactly one, got neither: name, selector")


class SinkBinding(KObject):
    """SinkBinding describes a Binding that is also a Source: it gives its subjects a sink."""

    spec: SinkBindingSpec = Field(default_factory=SinkBindingSpec)
    status: SourceStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        if self.spec.subject is not None and not self.spec.subject.namespace:
            self.spec.subject.namespace = self.namespace
        default_source_spec(self.spec, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        at = errs.at("spec")
        subject = self.spec.subject
        if subject is None:
            at.required("subject")
        else:
            _check_subject(subject, at.at("subject"))
            if subject.namespace and subject.namespace != self.namespace:
                at.at("subject").invalid(
                    "namespace", subject.namespace, "must be the namespace of the SinkBinding"
                )
        check_source_spec(self.spec, ctx, at)
