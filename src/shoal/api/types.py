"""What the API serves about each kind: names, short names, printer columns, its model.

A ``ResourceType`` is the CRD of a kind, written in Python. The API server builds discovery,
OpenAPI and ``kubectl get`` tables from it; the CLI resolves ``ksvc`` or ``services`` with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shoal.api.model import KObject


@dataclass(frozen=True)
class PrinterColumn:
    """A CRD ``additionalPrinterColumns`` entry; ``json_path`` in kubectl's JSONPath subset."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""


READY = PrinterColumn("Ready", ".status.conditions[?(@.type=='Ready')].status",
                      description="Whether the object is ready")
REASON = PrinterColumn("Reason", ".status.conditions[?(@.type=='Ready')].reason",
                       description="Why the object is not ready")
AGE = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")
URL = PrinterColumn("URL", ".status.url")
ADDRESS_URL = PrinterColumn("URL", ".status.address.url")
SINK = PrinterColumn("Sink", ".status.sinkUri")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    model: type[KObject]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    namespaced: bool = True
    status_subresource: bool = True
    columns: tuple[PrinterColumn, ...] = ()
    # Core kinds get Kubernetes' strategic merge patch; custom resources get 415 for it.
    strategic_merge_patch: bool = False
    # Whether updates bump metadata.generation (custom resources: yes; ConfigMap: no).
    has_generation: bool = True
    description: str = ""
    verbs: tuple[str, ...] = field(
        default=("create", "delete", "deletecollection", "get", "list", "patch", "update",
                 "watch"))

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """The storage key of the resource, independent of version: ``group/plural``."""
        return f"{self.group}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """``services.serving.knative.dev``: how Kubernetes names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def names(self) -> set[str]:
        """Every name kubectl accepts for this resource."""
        base = {self.plural, self.singular, *self.short_names, self.kind.lower()}
        if self.group:
            base |= {f"{n}.{self.group}" for n in (self.plural, self.singular)}
        return base
