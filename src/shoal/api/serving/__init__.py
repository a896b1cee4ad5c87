"""Knative Serving's kinds: Service, Configuration, Revision, Route and DomainMapping.

Each kind's module holds its spec, status, defaulting and validation; the shared pieces are
the revision's pod spec (``podspec``, ``container``), traffic targets (``traffic``) and the
annotation rules (``annotations``). ``TYPES`` is what the catalog serves, with Knative's
names, short names, categories and ``kubectl get`` columns.
"""

from __future__ import annotations

from shoal.api.serving.configuration import Configuration, ConfigurationSpec, ConfigurationStatus
from shoal.api.serving.domainmapping import DomainMapping, DomainMappingSpec, DomainMappingStatus
from shoal.api.serving.keys import GROUP
from shoal.api.serving.podspec import RevisionSpec
from shoal.api.serving.revision import Revision, RevisionStatus, RevisionTemplateSpec
from shoal.api.serving.route import Route, RouteSpec, RouteStatus
from shoal.api.serving.service import Service, ServiceSpec, ServiceStatus
from shoal.api.serving.traffic import TrafficTarget
from shoal.api.types import READY, REASON, URL, PrinterColumn, ResourceType

CATEGORIES = ("all", "knative", "serving")

LATEST_CREATED = PrinterColumn("LatestCreated", ".status.latestCreatedRevisionName")
LATEST_READY = PrinterColumn("LatestReady", ".status.latestReadyRevisionName")

TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        GROUP,
        "v1",
        "Service",
        "services",
        Service,
        short_names=("kservice", "ksvc"),
        categories=CATEGORIES,
        columns=(URL, LATEST_CREATED, LATEST_READY, READY, REASON),
        description="A Knative Service: revisions of a container and a route to them.",
    ),
    ResourceType(
        GROUP,
        "v1",
        "Configuration",
        "configurations",
        Configuration,
        short_names=("config", "cfg"),
        categories=CATEGORIES,
        columns=(LATEST_CREATED, LATEST_READY, READY, REASON),
        description="A stream of revisions, one for each version of its template.",
    ),
    ResourceType(
        GROUP,
        "v1",
        "Revision",
        "revisions",
        Revision,
        short_names=("rev",),
        categories=CATEGORIES,
        columns=(
            PrinterColumn(
                "Config Name", r".metadata.labels['serving\.knative\.dev/configuration']"
            ),
            PrinterColumn(
                "Generation", r".metadata.labels['serving\.knative\.dev/configurationGeneration']"
            ),
            READY,
            REASON,
            PrinterColumn("Actual Replicas", ".status.actualReplicas", type="integer"),
            PrinterColumn("Desired Replicas", ".status.desiredReplicas", type="integer"),
        ),
        description="An immutable snapshot of code and configuration.",
    ),
    ResourceType(
        GROUP,
        "v1",
        "Route",
        "routes",
        Route,
        short_names=("rt",),
        categories=CATEGORIES,
        columns=(URL, READY, REASON),
        description="A named split of traffic among revisions, reachable at a URL.",
    ),
    ResourceType(
        GROUP,
        "v1beta1",
        "DomainMapping",
        "domainmappings",
        DomainMapping,
        short_names=("dm",),
        categories=CATEGORIES,
        columns=(URL, READY, REASON),
        description="A custom host name for a Service or another Addressable.",
    ),
)

__all__ = [
    "TYPES",
    "Configuration",
    "ConfigurationSpec",
    "ConfigurationStatus",
    "DomainMapping",
    "DomainMappingSpec",
    "DomainMappingStatus",
    "Revision",
    "RevisionSpec",
    "RevisionStatus",
    "RevisionTemplateSpec",
    "Route",
    "RouteSpec",
    "RouteStatus",
    "Service",
    "ServiceSpec",
    "ServiceStatus",
    "TrafficTarget",
]
