"""The DomainMapping kind (``serving.knative.dev/v1beta1``): a custom host for a Service.

Its name is the host (``shop.example.com``); ``spec.ref`` names the Addressable that
requests for that host go to, a Knative Service or Route in the same namespace. The
DomainMapping reconciler resolves the reference and adds the host to the gateway's table.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import Addressable, KObject, KReference, Model, Status
from shoal.api.names import dns1123_subdomain
from shoal.api.serving import messages as m
from shoal.api.serving.userinfo import UserStamped

CLUSTER_LOCAL_DOMAIN = "svc.cluster.local"


class SecretTLS(Model):
    """The secret holding the certificate for the host."""

    secret_name: str = Field(description="Name of a kubernetes.io/tls Secret.")


class DomainMappingSpec(Model):
    """What the host maps to."""

    ref: KReference | None = Field(
        default=None,
        description="The Addressable requests for the host go to: a Service or Route in "
        "the same namespace.",
    )
    tls: SecretTLS | None = None


class DomainMappingStatus(Status):
    """The observed state of a domain mapping."""

    url: str | None = Field(default=None, description="The URL of the mapped host.")
    address: Addressable | None = None


class DomainMapping(UserStamped):
    """A custom host name for a Service or another Addressable."""

    spec: DomainMappingSpec = Field(default_factory=DomainMappingSpec)
    status: DomainMappingStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        spec = self.spec
        if spec.ref is not None and not spec.ref.namespace and self.namespace:
            ref = spec.ref
            ref.namespace = self.namespace
            spec.ref = ref
        self.spec = spec
        self.stamp(ctx)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        meta = errs.at("metadata")
        if self.metadata.generate_name:
            m.disallowed(meta, "generateName")
        name = self.name
        problems = dns1123_subdomain(name)
        if "." not in name:
            problems.append("should be a domain with at least two segments separated by dots")
        for problem in problems:
            meta.add(f'invalid name "{name}": {problem}', "name")
        if name.endswith("." + CLUSTER_LOCAL_DOMAIN):
            meta.add(
                f'invalid name "{name}": must not be a subdomain of cluster local '
                f'domain "{CLUSTER_LOCAL_DOMAIN}"',
                "name",
            )
        ref = errs.at("spec").at("ref")
        if self.spec.ref is None:
            for field in ("name", "apiVersion", "kind"):
                m.missing(ref, field)
        else:
            given = self.spec.ref
            for field, value in (
                ("name", given.name),
                ("apiVersion", given.api_version),
                ("kind", given.kind),
            ):
                if not value:
                    m.missing(ref, field)
            if given.namespace and self.namespace and given.namespace != self.namespace:
                ref.add(
                    f'mismatched namespaces: parent namespace: "{self.namespace}" does '
                    f'not match ref: "{given.namespace}"',
                    "namespace",
                )
        if self.spec.tls is not None and not self.spec.tls.secret_name:
            m.missing(errs.at("spec").at("tls"), "secretName")
        if isinstance(old, DomainMapping):
            self.settle(old, ctx, errs)
