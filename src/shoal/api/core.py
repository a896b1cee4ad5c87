"""Core ``v1`` kinds Shoal serves: Namespace, ConfigMap, Secret, Event, Pod.

Pods are a read-only mirror: Shoal runs no Pods itself, it publishes one per running
instance of a Revision so that ``kubectl get pods`` shows them (see the serving guide).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.model import KObject, Model
from shoal.api.types import AGE, PrinterColumn, ResourceType

_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


class NamespaceSpec(Model):
    finalizers: list[str] | None = None


class NamespaceStatus(Model):
    phase: str | None = None
    conditions: list[dict[str, Any]] | None = None


class Namespace(KObject):
    """Namespace provides a scope for names."""

    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        if self.status is None or not self.status.phase:
            self.status = NamespaceStatus(phase="Active")
        labels = dict(self.metadata.labels or {})
        labels.setdefault("kubernetes.io/metadata.name", self.name)
        self.metadata.labels = labels


def _check_keys(data: dict[str, Any] | None, errs: FieldErrors) -> None:
    for key in data or {}:
        if not _CONFIG_KEY.match(key) or key in (".", ".."):
            errs.invalid(None, key,
                         "a valid config key must consist of alphanumeric characters, '-', "
                         "'_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex "
                         "used for validation is '[-._a-zA-Z0-9]+')")


class ConfigMap(KObject):
    """ConfigMap holds configuration data for pods to consume."""

    data: dict[str, str] | None = None
    binary_data: dict[str, str] | None = None
    immutable: bool | None = None

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        _check_keys(self.data, errs.at("data"))
        _check_keys(self.binary_data, errs.at("binaryData"))
        for key in set(self.data or {}) & set(self.binary_data or {}):
            errs.at("data").invalid(None, key, "duplicate of key present in binaryData")
        if isinstance(old, ConfigMap) and old.immutable:
            if self.data != old.data or self.binary_data != old.binary_data:
                errs.forbidden("data", "field is immutable when `immutable` is set")
            if not self.immutable:
                errs.forbidden("immutable", "field is immutable when `immutable` is set")


class Secret(KObject):
    """Secret holds secret data of a certain type."""

    data: dict[str, str] | None = None
    string_data: dict[str, str] | None = Field(
        default=None, description="Write-only: merged into data on write.")
    type: str | None = None
    immutable: bool | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        if not self.type:
            self.type = "Opaque"
        if self.string_data:
            data = dict(self.data or {})
            for key, value in self.string_data.items():
                data[key] = base64.b64encode(value.encode()).decode()
            self.data = data
            self.string_data = None
            self.model_fields_set.discard("string_data")

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        _check_keys(self.data, errs.at("data"))
        for key, value in (self.data or {}).items():
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                errs.at("data").invalid(key, "<secret>", "not valid base64")
        if isinstance(old, Secret):
            if old.type and self.type != old.type:
                errs.immutable("type")
            if old.immutable and (self.data != old.data or not self.immutable):
                errs.forbidden("data", "field is immutable when `immutable` is set")


class ObjectReference(Model):
    api_version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class EventSource(Model):
    component: str | None = None
    host: str | None = None


class Event(KObject):
    """Event is a report of an event somewhere in the system."""

    involved_object: ObjectReference = Field(default_factory=ObjectReference)
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    event_time: str | None = None
    count: int | None = None
    type: str | None = None
    action: str | None = None
    related: ObjectReference | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None
    series: dict[str, Any] | None = None


class PodSpec(Model):
    """What runs in the pod: its containers, in Kubernetes' shape."""

    containers: list[dict[str, Any]] | None = None
    restart_policy: str | None = None
    node_name: str | None = None


class PodStatus(Model):
    """The observed state of the pod's containers."""

    phase: str | None = Field(default=None, description="Pending, Running, Succeeded, "
                              "Failed or Unknown.")
    conditions: list[dict[str, Any]] | None = None
    message: str | None = None
    reason: str | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")
    pod_ip: str | None = Field(default=None, alias="podIP")
    pod_ips: list[dict[str, str]] | None = Field(default=None, alias="podIPs")
    start_time: str | None = None
    container_statuses: list[dict[str, Any]] | None = None


class Pod(KObject):
    """Pod is a collection of containers that can run on a host; in Shoal, one instance of
    a Revision, published by the serving plane."""

    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus | None = None


TYPES = (
    ResourceType("", "v1", "Namespace", "namespaces", Namespace, short_names=("ns",),
                 namespaced=False, strategic_merge_patch=True, has_generation=False,
                 columns=(PrinterColumn("Status", ".status.phase"), AGE)),
    ResourceType("", "v1", "ConfigMap", "configmaps", ConfigMap, short_names=("cm",),
                 status_subresource=False, strategic_merge_patch=True, has_generation=False,
                 columns=(PrinterColumn("Data", ".data", type="count"), AGE)),
    ResourceType("", "v1", "Secret", "secrets", Secret, status_subresource=False,
                 strategic_merge_patch=True, has_generation=False,
                 columns=(PrinterColumn("Type", ".type"),
                          PrinterColumn("Data", ".data", type="count"), AGE)),
    ResourceType("", "v1", "Event", "events", Event, short_names=("ev",),
                 status_subresource=False, strategic_merge_patch=True, has_generation=False,
                 columns=(PrinterColumn("Last Seen", ".lastTimestamp", type="date"),
                          PrinterColumn("Type", ".type"),
                          PrinterColumn("Reason", ".reason"),
                          PrinterColumn("Object", ".involvedObject", type="objectref"),
                          PrinterColumn("Message", ".message"))),
    ResourceType("", "v1", "Pod", "pods", Pod, short_names=("po",), categories=("all",),
                 strategic_merge_patch=True, has_generation=False,
                 columns=(PrinterColumn("Ready", ".status.containerStatuses", type="ready"),
                          PrinterColumn("Status", ".status.phase"),
                          PrinterColumn("Restarts", ".status.containerStatuses[0].restartCount",
                                        type="integer"),
                          AGE)),
)
