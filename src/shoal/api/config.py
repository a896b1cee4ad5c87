"""Knative's configuration ConfigMaps: their defaults, and typed reads of their values.

Shoal creates these ConfigMaps in ``knative-serving`` and ``knative-eventing`` on first start
with Knative's defaults (``DEFAULT_CONFIGMAPS``); users edit them with kubectl as they would
on a cluster. Admission (defaulting and validation) and the components read them through
``Config``, which falls back to the default for a key that is missing or unparsable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SERVING_NS = "knative-serving"
EVENTING_NS = "knative-eventing"

DEFAULT_BROKER_CLASS = "SQLiteBroker"
IN_MEMORY_BROKER_CLASS = "InMemoryBroker"
NATS_BROKER_CLASS = "NatsJetStreamBroker"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
# Broker classes Shoal serves, and whether their events survive a restart. Knative's own
# default class name is served by the durable log, so YAML written for Knative works as is.
BROKER_CLASSES: dict[str, bool] = {
    DEFAULT_BROKER_CLASS: True,
    "MTChannelBasedBroker": True,
    IN_MEMORY_BROKER_CLASS: False,
    NATS_BROKER_CLASS: True,  # a JetStream stream per broker (shoal.eventing.jetstream)
}

DEFAULT_CONFIGMAPS: dict[tuple[str, str], dict[str, str]] = {
    (SERVING_NS, "config-autoscaler"): {
        "container-concurrency-target-percentage": "70",
        "container-concurrency-target-default": "100",
        "requests-per-second-target-default": "200",
        "target-burst-capacity": "211",
        "stable-window": "60s",
        "panic-window-percentage": "10.0",
        "panic-threshold-percentage": "200.0",
        "max-scale-up-rate": "1000.0",
        "max-scale-down-rate": "2.0",
        "enable-scale-to-zero": "true",
        "scale-to-zero-grace-period": "30s",
        "scale-to-zero-pod-retention-period": "0s",
        "pod-autoscaler-class": "kpa.autoscaling.knative.dev",
        "activator-capacity": "100.0",
        "initial-scale": "1",
        "allow-zero-initial-scale": "false",
        "min-scale": "0",
        "max-scale": "0",
        "max-scale-limit": "0",
        "scale-down-delay": "0s",
    },
    (SERVING_NS, "config-defaults"): {
        "revision-timeout-seconds": "300",
        "max-revision-timeout-seconds": "600",
        "revision-idle-timeout-seconds": "0",
        "container-concurrency": "0",
        "container-concurrency-max-limit": "1000",
        "allow-container-concurrency-zero": "true",
        "enable-service-links": "false",
        "container-name-template": "user-container",
        "init-container-name-template": "init-container",
    },
    (SERVING_NS, "config-domain"): {
        "localhost": "",
    },
    (SERVING_NS, "config-features"): {
        "multi-container": "enabled",
        "multi-container-probing": "disabled",
        "kubernetes.podspec-affinity": "disabled",
        "kubernetes.podspec-dryrun": "allowed",
        "kubernetes.podspec-fieldref": "disabled",
        "kubernetes.podspec-hostaliases": "disabled",
        "kubernetes.podspec-nodeselector": "disabled",
        "kubernetes.podspec-runtimeclassname": "disabled",
        "kubernetes.podspec-securitycontext": "disabled",
        "kubernetes.podspec-tolerations": "disabled",
        "kubernetes.podspec-volumes-emptydir": "enabled",
        "kubernetes.podspec-init-containers": "disabled",
        "kubernetes.podspec-persistent-volume-claim": "disabled",
        "tag-header-based-routing": "disabled",
        "autodetect-http2": "disabled",
        "secure-pod-defaults": "disabled",
    },
    (SERVING_NS, "config-gc"): {
        "retain-since-create-time": "48h",
        "retain-since-last-active-time": "15h",
        "min-non-active-revisions": "20",
        "max-non-active-revisions": "1000",
    },
    (SERVING_NS, "config-network"): {
        "domain-template": "{{.Name}}.{{.Namespace}}.{{.Domain}}",
        "tag-template": "{{.Tag}}-{{.Name}}",
        "http-protocol": "Enabled",
        "default-external-scheme": "http",
        "external-domain-tls": "Disabled",
    },
    (SERVING_NS, "config-deployment"): {
        "progress-deadline": "600s",
        "digest-resolution-timeout": "10s",
        "registries-skipping-tag-resolving": "kind.local,ko.local,dev.local,localhost",
    },
    (SERVING_NS, "config-observability"): {
        "metrics.backend-destination": "prometheus",
        "metrics.request-metrics-backend-destination": "prometheus",
    },
    (SERVING_NS, "config-logging"): {
        "loglevel.controller": "info",
        "loglevel.autoscaler": "info",
        "loglevel.activator": "info",
    },
    (EVENTING_NS, "config-br-defaults"): {
        "default-br-config": (
            "clusterDefault:\n"
            f"  brokerClass: {DEFAULT_BROKER_CLASS}\n"
            "  delivery:\n"
            "    retry: 10\n"
            "    backoffPolicy: exponential\n"
            "    backoffDelay: PT0.2S\n"
        ),
    },
    (EVENTING_NS, "default-ch-webhook"): {
        "default-ch-config": (
            "clusterDefault:\n"
            "  apiVersion: messaging.knative.dev/v1\n"
            "  kind: InMemoryChannel\n"
        ),
    },
    (EVENTING_NS, "config-features"): {
        "kreference-group": "disabled",
        "delivery-retryafter": "disabled",
        "delivery-timeout": "enabled",
        "kreference-mapping": "disabled",
        "new-trigger-filters": "enabled",
        "eventtype-auto-create": "disabled",
    },
    (EVENTING_NS, "config-ping-defaults"): {
        "dataMaxSize": "-1",
    },
    (EVENTING_NS, "config-nats"): {
        "url": DEFAULT_NATS_URL,
    },
    (EVENTING_NS, "config-kreference-mapping"): {},
    (EVENTING_NS, "config-observability"): {},
}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go duration (``1m30s``, ``500ms``, ``0``), or None if it is not one."""
    text = text.strip()
    if text in ("0", "-0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        return None
    return sign * total


@dataclass
class Config:
    """A view of the configuration ConfigMaps, with Knative's defaults behind every key."""

    maps: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)

    def value(self, namespace: str, name: str, key: str) -> str:
        data = self.maps.get((namespace, name))
        if data is not None and key in data:
            return data[key]
        return DEFAULT_CONFIGMAPS.get((namespace, name), {}).get(key, "")

    def get_int(self, namespace: str, name: str, key: str) -> int:
        try:
            return int(self.value(namespace, name, key))
        except ValueError:
            return int(DEFAULT_CONFIGMAPS[(namespace, name)][key])

    def get_float(self, namespace: str, name: str, key: str) -> float:
        try:
            return float(self.value(namespace, name, key))
        except ValueError:
            return float(DEFAULT_CONFIGMAPS[(namespace, name)][key])

    def get_bool(self, namespace: str, name: str, key: str) -> bool:
        return self.value(namespace, name, key).strip().lower() == "true"

    def get_seconds(self, namespace: str, name: str, key: str) -> float:
        parsed = parse_go_duration(self.value(namespace, name, key))
        if parsed is None:
            parsed = parse_go_duration(DEFAULT_CONFIGMAPS[(namespace, name)][key]) or 0.0
        return parsed

    def feature(self, namespace: str, key: str) -> str:
        """``enabled``, ``disabled`` or ``allowed`` for a ``config-features`` flag."""
        return self.value(namespace, "config-features", key).strip().lower() or "disabled"

    # Shortcuts for the values admission reads most.
    def serving_default(self, key: str) -> str:
        return self.value(SERVING_NS, "config-defaults", key)

    def serving_default_int(self, key: str) -> int:
        return self.get_int(SERVING_NS, "config-defaults", key)

    @property
    def domain(self) -> str:
        """The default domain: the key of config-domain without a selector, else the first."""
        data = self.maps.get((SERVING_NS, "config-domain"))
        if data is None:
            data = DEFAULT_CONFIGMAPS[(SERVING_NS, "config-domain")]
        for domain, selector in data.items():
            if not selector.strip() and not domain.startswith("_"):
                return domain
        return next((d for d in data if not d.startswith("_")), "localhost")


@dataclass
class AdmissionContext:
    """What defaulting and validation may read: the configuration, the caller, the time.

    ``old`` is the stored object (the same model) when the request is an update, so that
    defaulting can tell a spec change (e.g. to set ``serving.knative.dev/lastModifier``).
    """

    config: Config = field(default_factory=Config)
    user: str = "system:admin"
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    old: Any = None

    @property
    def is_update(self) -> bool:
        return self.old is not None
