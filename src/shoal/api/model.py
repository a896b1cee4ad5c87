"""The base of every resource model: camelCase JSON, strict types, unknown fields refused.

Each kind is a pydantic model whose fields are snake_case in Python and camelCase on the
wire, exactly as Kubernetes spells them. Models are strict (a string is never coerced to a
number) and forbid unknown fields, so parsing reports every type error and every unknown
field with its path; the registry then decides from ``fieldValidation`` whether an unknown
field is an error, a warning or silently dropped.

``dump()`` writes only the fields that were given or set later (defaulting assigns fields,
which marks them set), so what is stored is what the user wrote plus what defaulting added.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        protected_namespaces=(),
    )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


class FreeModel(Model):
    """A model that keeps fields it does not know (Kubernetes' preserve-unknown-fields)."""

    model_config = ConfigDict(extra="allow")


def _quantity(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


Quantity = Annotated[str, BeforeValidator(_quantity)]
"""A resource quantity (``500m``, ``1Gi``); numbers given in YAML are kept as strings."""

IntOrString = int | str


class OwnerReference(Model):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(Model):
    """Kubernetes' ObjectMeta; the server owns uid, resourceVersion, generation and times."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[dict[str, Any]] | None = None
    self_link: str | None = None


class TemplateMeta(ObjectMeta):
    """Metadata of an embedded template (``spec.template.metadata``)."""


class Condition(Model):
    """A Knative condition; ``Ready`` (or ``Succeeded``) summarises the others."""

    type: str
    status: str = "Unknown"
    severity: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class Status(Model):
    """Knative's duck status: observedGeneration, conditions, annotations."""

    observed_generation: int | None = None
    conditions: list[Condition] | None = None
    annotations: dict[str, str] | None = None


class Addressable(Model):
    name: str | None = None
    url: str | None = None
    ca_certs: str | None = Field(default=None, alias="CACerts")
    audience: str | None = None


class KReference(Model):
    """A reference to another object (``sink.ref``, ``subscriber.ref``)."""

    api_version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    group: str | None = None
    address: str | None = None


class Destination(Model):
    """Knative's duckv1.Destination: a ref, a URI, or a URI relative to the ref."""

    ref: KReference | None = None
    uri: str | None = None
    ca_certs: str | None = Field(default=None, alias="CACerts")
    audience: str | None = None


class KObject(Model):
    """A top-level object. Kinds override ``apply_defaults`` and ``check``."""

    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    # Fields that are not the object's "spec" for the purpose of ``generation``: a change to
    # anything outside metadata, status and these does not bump it.
    non_spec_fields: ClassVar[frozenset[str]] = frozenset()

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        """Fill in Knative's defaults in place (the defaulting webhook)."""

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        """Add an error for every broken rule (the validating webhook). ``old`` on update."""

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""

