"""Knative's defaulting of a RevisionSpec, reading ``config-defaults`` and ``config-features``.

Called by the defaulting of Revision and of every revision template (Configuration,
Service). It fills in what Knative's webhook does: timeouts, container concurrency, container
names, the serving container's readiness probe, empty resources (or the configured requests
and limits), read-only mounts of configuration volumes and ``enableServiceLinks``. Running it
twice changes nothing, so a stored spec stays equal to itself when defaulted again.
"""

from __future__ import annotations

import re

from shoal.api.config import SERVING_NS, AdmissionContext
from shoal.api.serving.container import (
    Capabilities,
    Container,
    Probe,
    ResourceRequirements,
    SeccompProfile,
    SecurityContext,
    TCPSocketAction,
)
from shoal.api.serving.podspec import RevisionSpec

_NAME = re.compile(r"\{\{\s*\.Name\s*\}\}")
_RESOURCE_KEYS = (
    ("requests", "cpu", "revision-cpu-request"),
    ("requests", "memory", "revision-memory-request"),
    ("requests", "ephemeral-storage", "revision-ephemeral-storage-request"),
    ("limits", "cpu", "revision-cpu-limit"),
    ("limits", "memory", "revision-memory-limit"),
    ("limits", "ephemeral-storage", "revision-ephemeral-storage-limit"),
)


def config_int(ctx: AdmissionContext, key: str, default: int) -> int:
    """An integer of config-defaults, or ``default`` when it is unset or not a number."""
    try:
        return int(ctx.config.serving_default(key).strip())
    except ValueError:
        return default


def container_name(template: str, parent_name: str) -> str:
    """Expand ``container-name-template``; ``{{.Name}}`` is the owning object's name."""
    return _NAME.sub(lambda _: parent_name, template.strip() or "user-container")


def default_revision_spec(spec: RevisionSpec, ctx: AdmissionContext, parent_name: str) -> None:
    """Apply Knative's RevisionSpec defaults to ``spec`` in place."""
    timeout = spec.timeout_seconds
    if not timeout:
        timeout = config_int(ctx, "revision-timeout-seconds", 300)
        spec.timeout_seconds = timeout
    for field, key in (
        ("idle_timeout_seconds", "revision-idle-timeout-seconds"),
        ("response_start_timeout_seconds", "revision-response-start-timeout-seconds"),
    ):
        if not getattr(spec, field):
            configured = config_int(ctx, key, 0)
            if configured and configured <= timeout:
                setattr(spec, field, configured)
    if spec.container_concurrency is None:
        spec.container_concurrency = config_int(ctx, "container-concurrency", 0)

    taken = {c.name for c in [*spec.containers, *(spec.init_containers or [])] if c.name}
    _default_names(
        spec.containers,
        taken,
        container_name(ctx.config.serving_default("container-name-template"), parent_name),
    )
    if spec.init_containers:
        _default_names(
            spec.init_containers,
            taken,
            container_name(
                ctx.config.serving_default("init-container-name-template") or "init-container",
                parent_name,
            ),
        )

    writable = {
        v.name
        for v in spec.volumes or []
        if v.empty_dir is not None or v.persistent_volume_claim is not None
    }
    secure = ctx.config.feature(SERVING_NS, "secure-pod-defaults") == "enabled"
    for container in spec.containers:
        _default_resources(container, ctx)
        if len(spec.containers) == 1 or container.ports:
            _default_serving_probe(container)
        _default_probe_timings(container)
        for mount in container.volume_mounts or []:
            if mount.name not in writable and mount.read_only is not True:
                mount.read_only = True
        if secure:
            _secure_defaults(container)
    for container in spec.init_containers or []:
        if secure:
            _secure_defaults(container)

    if spec.enable_service_links is None:
        links = ctx.config.serving_default("enable-service-links").strip().lower()
        if links in ("true", "false"):
            spec.enable_service_links = links == "true"


def _default_names(containers: list[Container], taken: set[str], base: str) -> None:
    suffix = 0
    for container in containers:
        if container.name:
            continue
        name = base
        if len(containers) > 1 or name in taken:
            while True:
                name = f"{base}-{suffix}"
                suffix += 1
                if name not in taken:
                    break
        container.name = name
        taken.add(name)


def _default_resources(container: Container, ctx: AdmissionContext) -> None:
    resources = container.resources or ResourceRequirements()
    for attr, resource, key in _RESOURCE_KEYS:
        configured = ctx.config.serving_default(key).strip()
        current = getattr(resources, attr)
        if configured and resource not in (current or {}):
            setattr(resources, attr, {**(current or {}), resource: configured})
    container.resources = resources


def _default_serving_probe(container: Container) -> None:
    probe = container.readiness_probe or Probe()
    if not (probe.tcp_socket or probe.http_get or probe.exec or probe.grpc):
        probe.tcp_socket = TCPSocketAction(port=0)
    container.readiness_probe = probe


def _default_probe_timings(container: Container) -> None:
    probe = container.readiness_probe
    if probe is not None:
        if not (probe.tcp_socket or probe.http_get or probe.exec or probe.grpc):
            probe.tcp_socket = TCPSocketAction(port=0)
        if not probe.success_threshold:
            probe.success_threshold = 1
        if probe.period_seconds:
            if not probe.failure_threshold:
                probe.failure_threshold = 3
            if not probe.timeout_seconds:
                probe.timeout_seconds = 1
    for p in (container.readiness_probe, container.liveness_probe):
        if p is not None and p.grpc is not None and p.grpc.service is None:
            p.grpc.service = ""


def _secure_defaults(container: Container) -> None:
    """``secure-pod-defaults: enabled``: what the restricted Pod Security Standard asks."""
    sc = container.security_context or SecurityContext()
    if sc.allow_privilege_escalation is None:
        sc.allow_privilege_escalation = False
    if sc.run_as_non_root is None:
        sc.run_as_non_root = True
    if sc.seccomp_profile is None:
        sc.seccomp_profile = SeccompProfile(type="RuntimeDefault")
    if sc.capabilities is None:
        sc.capabilities = Capabilities(drop=["ALL"])
    elif sc.capabilities.drop is None:
        sc.capabilities.drop = ["ALL"]
    container.security_context = sc
