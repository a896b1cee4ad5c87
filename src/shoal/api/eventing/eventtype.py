"""The EventType kind (``eventing.knative.dev/v1beta2``): a catalogued type of event.

An EventType records that events of a CloudEvents ``type`` (and optionally ``source`` and
``schema``) can be consumed from some addressable, named by ``reference`` (usually a Broker).
Defaulting puts the reference in the EventType's namespace. Called by admission in the API
server.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.duck import default_kreference
from shoal.api.errors import FieldErrors
from shoal.api.model import KObject, KReference, Model, Status


class EventTypeSpec(Model):
    """The desired state of an EventType."""

    type: str | None = Field(
        default=None,
        description="Type represents the CloudEvents type. It is authoritative. Required.",
    )
    source: str | None = Field(
        default=None, description="Source is a URI, it represents the CloudEvents source."
    )
    # ``schema`` is a BaseModel attribute, so the Python name differs from the wire name.
    schema_: str | None = Field(
        default=None,
        alias="schema",
        description="Schema is a URI, it represents the "
        "CloudEvents schemaurl extension attribute. It may be a JSON schema, a protobuf "
        "schema, etc.",
    )
    schema_data: str | None = Field(
        default=None,
        description="SchemaData allows the CloudEvents schema to be stored "
        "directly in the EventType. Its content is not validated.",
    )
    broker: str | None = Field(
        default=None,
        description="Broker refers to the Broker that can provide the "
        "EventType. Deprecated: use reference.",
    )
    reference: KReference | None = Field(
        default=None,
        description="Reference is a KReference to the belonging addressable, for example a Broker.",
    )
    description: str | None = Field(
        default=None,
        description="Description is an optional field used to describe the "
        "EventType, in any meaningful way.",
    )


class EventType(KObject):
    """EventType represents a type of event that can be consumed from a Broker."""

    spec: EventTypeSpec = Field(default_factory=EventTypeSpec)
    status: Status | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        default_kreference(self.spec.reference, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        if not self.spec.type:
            errs.at("spec").required("type")
