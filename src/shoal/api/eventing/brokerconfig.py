"""Broker defaults from the ``config-br-defaults`` ConfigMap (``default-br-config`` key).

The key holds YAML in Knative's shape::

    clusterDefault:
      brokerClass: SQLiteBroker
      apiVersion: v1            # optional: the default spec.config reference
      kind: ConfigMap
      name: config-br-default-channel
      namespace: knative-eventing
      delivery: {retry: 10, backoffPolicy: exponential, backoffDelay: PT0.2S}
      brokerClasses:            # optional: per-class config and delivery
        OtherBroker: {delivery: {...}}
    namespaceDefaults:
      team-a: {brokerClass: ..., delivery: {...}, brokerClasses: {...}}

A namespace's entry wins over the cluster's; within a level, an entry for the broker's class
wins over the level's own settings. Text that does not parse falls back to Shoal's built-in
defaults. Called by the Broker kind's defaulting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from shoal.api.config import DEFAULT_BROKER_CLASS, DEFAULT_CONFIGMAPS, EVENTING_NS, Config
from shoal.api.duck import DeliverySpec
from shoal.api.model import KReference

CONFIG_MAP = "config-br-defaults"
KEY = "default-br-config"


@dataclass(frozen=True)
class BrokerLevel:
    """The settings of one level (cluster, namespace, or a class within either)."""

    broker_class: str = ""
    config: dict[str, Any] | None = None
    delivery: dict[str, Any] | None = None
    classes: dict[str, BrokerLevel] | None = None

    @staticmethod
    def parse(raw: Any) -> BrokerLevel:
        if not isinstance(raw, dict):
            return BrokerLevel()
        ref = {k: raw[k] for k in ("apiVersion", "kind", "name", "namespace") if k in raw}
        classes = raw.get("brokerClasses")
        return BrokerLevel(
            broker_class=str(raw.get("brokerClass") or ""),
            config=ref if ref.get("kind") and ref.get("name") else None,
            delivery=raw["delivery"] if isinstance(raw.get("delivery"), dict) else None,
            classes=(
                {str(k): BrokerLevel.parse(v) for k, v in classes.items()}
                if isinstance(classes, dict)
                else None
            ),
        )

    def for_class(self, broker_class: str) -> BrokerLevel | None:
        """This level's settings for a class, or None if the level says nothing about it."""
        if self.classes and broker_class in self.classes:
            return self.classes[broker_class]
        if self.broker_class in ("", broker_class) and (self.config or self.delivery):
            return self
        return None


@dataclass(frozen=True)
class BrokerDefaults:
    cluster: BrokerLevel
    namespaces: dict[str, BrokerLevel]

    @staticmethod
    def parse(text: str) -> BrokerDefaults | None:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
        if not isinstance(raw, dict):
            return None
        namespaces = raw.get("namespaceDefaults")
        return BrokerDefaults(
            cluster=BrokerLevel.parse(raw.get("clusterDefault")),
            namespaces=(
                {str(k): BrokerLevel.parse(v) for k, v in namespaces.items()}
                if isinstance(namespaces, dict)
                else {}
            ),
        )

    @staticmethod
    def from_config(config: Config) -> BrokerDefaults:
        parsed = BrokerDefaults.parse(config.value(EVENTING_NS, CONFIG_MAP, KEY))
        if parsed is None:
            parsed = BrokerDefaults.parse(DEFAULT_CONFIGMAPS[(EVENTING_NS, CONFIG_MAP)][KEY])
        assert parsed is not None
        return parsed

    def broker_class(self, namespace: str) -> str:
        ns = self.namespaces.get(namespace)
        if ns is not None and ns.broker_class:
            return ns.broker_class
        return self.cluster.broker_class or DEFAULT_BROKER_CLASS

    def _level(self, namespace: str, broker_class: str) -> BrokerLevel | None:
        ns = self.namespaces.get(namespace)
        if ns is not None:
            found = ns.for_class(broker_class)
            if found is not None:
                return found
        return self.cluster.for_class(broker_class) or self.cluster

    def config(self, namespace: str, broker_class: str) -> KReference | None:
        """The default ``spec.config`` for a broker of this class in this namespace."""
        level = self._level(namespace, broker_class)
        if level is None or level.config is None:
            return None
        try:
            return KReference.model_validate(level.config)
        except ValidationError:
            return None

    def delivery(self, namespace: str, broker_class: str) -> DeliverySpec | None:
        """The default ``spec.delivery`` for a broker of this class in this namespace."""
        level = self._level(namespace, broker_class)
        if level is None or level.delivery is None:
            return None
        try:
            return DeliverySpec.model_validate(level.delivery)
        except ValidationError:
            return None
