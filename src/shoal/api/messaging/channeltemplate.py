"""Channel templates, and their defaults from the ``default-ch-webhook`` ConfigMap.

A channel template names the kind of channel to create (``apiVersion``, ``kind``) and the
spec to give it. Channels, Sequences and Parallels that do not say which channel to use get
the default for their namespace from the ``default-ch-config`` key, YAML in Knative's shape::

    clusterDefault:
      apiVersion: messaging.knative.dev/v1
      kind: InMemoryChannel
      spec: {delivery: {...}}      # optional
    namespaceDefaults:
      team-a: {apiVersion: ..., kind: ...}

Text that does not parse falls back to Shoal's built-in default (InMemoryChannel). Called by
the messaging and flows kinds during admission.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import Field, ValidationError

from shoal.api.config import DEFAULT_CONFIGMAPS, EVENTING_NS, Config
from shoal.api.errors import FieldErrors
from shoal.api.model import Model

CONFIG_MAP = "default-ch-webhook"
KEY = "default-ch-config"


class ChannelTemplateSpec(Model):
    """Which Channel CRD to create (apiVersion and kind), and the spec to give it."""

    api_version: str | None = Field(
        default=None, description="APIVersion of the channel, e.g. messaging.knative.dev/v1."
    )
    kind: str | None = Field(default=None, description="Kind of the channel, e.g. InMemoryChannel.")
    spec: dict[str, Any] | None = Field(
        default=None, description="Spec defines the spec of the channel created from this template."
    )


def _parse(text: str, namespace: str) -> ChannelTemplateSpec | None:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(raw, dict):
        return None
    entry: Any = None
    namespaces = raw.get("namespaceDefaults")
    if isinstance(namespaces, dict):
        entry = namespaces.get(namespace)
    if not isinstance(entry, dict):
        entry = raw.get("clusterDefault")
    if not isinstance(entry, dict) or not entry.get("kind"):
        return None
    fields = {k: entry[k] for k in ("apiVersion", "kind", "spec") if k in entry}
    try:
        return ChannelTemplateSpec.model_validate(fields)
    except ValidationError:
        return None


def default_channel_template(config: Config, namespace: str) -> ChannelTemplateSpec:
    """The channel template for objects in ``namespace`` that do not name one."""
    found = _parse(config.value(EVENTING_NS, CONFIG_MAP, KEY), namespace)
    if found is None:
        found = _parse(DEFAULT_CONFIGMAPS[(EVENTING_NS, CONFIG_MAP)][KEY], namespace)
    assert found is not None
    return found


def check_channel_template(template: ChannelTemplateSpec, errs: FieldErrors) -> None:
    """A template must name its kind and apiVersion; ``errs`` points at the template."""
    if not template.kind:
        errs.required("kind")
    if not template.api_version:
        errs.required("apiVersion")
