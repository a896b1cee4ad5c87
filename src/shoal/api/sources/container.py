"""The ContainerSource kind (``sources.knative.dev/v1``): a program that emits events.

A ContainerSource runs the containers of its pod template and tells them where to send
events through ``K_SINK`` (and ``K_CE_OVERRIDES``). The container model is deliberately
loose: the fields Shoal reads are typed, anything else a pod spec may hold is kept as given.
Defaulting names unnamed containers ``<source>-<index>``. A container needs an ``image``, or
(Shoal's process runtime) a ``command`` and no image. Called by admission in the API server.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import FreeModel, KObject, Model, ObjectMeta, Quantity
from shoal.api.sources.base import (
    SourceSpec,
    SourceStatus,
    check_source_spec,
    default_source_spec,
)


class ResourceRequirements(Model):
    """Compute resources of a container."""

    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None


class ContainerPort(FreeModel):
    """A port the container listens on."""

    name: str | None = None
    container_port: int | None = None
    protocol: str | None = None


class Container(FreeModel):
    """A container to run; fields Shoal does not use are kept as given."""

    name: str | None = Field(default=None, description="Name of the container.")
    image: str | None = Field(default=None, description="Container image name. Required.")
    command: list[str] | None = Field(default=None, description="Entrypoint array.")
    args: list[str] | None = Field(default=None, description="Arguments to the entrypoint.")
    env: list[dict[str, Any]] | None = Field(
        default=None, description="List of environment variables to set in the container."
    )
    env_from: list[dict[str, Any]] | None = Field(
        default=None, description="Sources to populate environment variables from."
    )
    ports: list[ContainerPort] | None = None
    resources: ResourceRequirements | None = None
    working_dir: str | None = Field(default=None, description="Working directory.")


class PodSpec(FreeModel):
    """The spec of the pod the source runs; fields other than containers are kept."""

    containers: list[Container] | None = Field(
        default=None, description="List of containers belonging to the pod. At least one."
    )


class PodTemplateSpec(Model):
    """Metadata and spec of the pod the source runs."""

    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None


class ContainerSourceSpec(SourceSpec):
    """The desired state of a ContainerSource."""

    template: PodTemplateSpec | None = Field(
        default=None, description="Template describes the pods that will be created."
    )


class ContainerSource(KObject):
    """ContainerSource is the Schema for the containersources API."""

    spec: ContainerSourceSpec = Field(default_factory=ContainerSourceSpec)
    status: SourceStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        template = self.spec.template
        if template is not None and template.spec is not None:
            for i, container in enumerate(template.spec.containers or []):
                if not container.name:
                    container.name = f"{self.name}-{i}"
        default_source_spec(self.spec, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        at = errs.at("spec")
        check_source_spec(self.spec, ctx, at)
        template = self.spec.template
        pod = template.spec if template is not None else None
        containers = pod.containers if pod is not None else None
        pod_at = at.at("template").at("spec")
        if not containers:
            pod_at.required("containers")
        for i, container in enumerate(containers or []):
            if not container.name:
                pod_at.at("containers", i).required("name")
            if not container.image and not container.command:
                pod_at.at("containers", i).required(
                    "image", "an image, or a command to run as a local process")
