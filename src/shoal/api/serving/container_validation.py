"""Knative's rules for one container of a revision: env, image, port, probes, mounts.

Called by ``podspec_validation.check_pod_spec`` for each container, knowing whether it is
the serving container, a sidecar or an init container, which volumes exist and which port
serves. Every broken rule is added to ``errs`` at its path under the container.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from enum import Enum

from shoal.api.config import SERVING_NS, AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.serving import messages as m
from shoal.api.serving.container import (
    Container,
    ContainerPort,
    EnvVar,
    Probe,
    SecurityContext,
    VolumeMount,
)
from shoal.api.serving.image import image_problem
from shoal.api.serving.podspec import Volume

MAX_ID = 2**31 - 1

RESERVED_CONTAINER_NAMES = frozenset({"queue-proxy"})
RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"})
RESERVED_SIDECAR_ENV = RESERVED_ENV - {"PORT"}
# The queue's ports (HTTP/1, HTTP/2, admin, metrics) and the profiling port.
RESERVED_PORTS = frozenset({8012, 8013, 8022, 9090, 9091, 8008})
RESERVED_PATHS = frozenset({"/", "/dev", "/dev/log"})
PORT_NAMES = ("h2c", "http1", "")
DEFAULT_PORT = 8080

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")


class Role(Enum):
    SERVING = "serving"
    SIDECAR = "sidecar"
    INIT = "init"


@dataclass(frozen=True)
class ServingPort:
    """The port requests go to, with Knative's defaults for an unnamed or unset one."""

    name: str = "http"
    number: int = DEFAULT_PORT

    @classmethod
    def of(cls, port: ContainerPort | None) -> ServingPort:
        if port is None:
            return cls()
        return cls(port.name or "http", port.container_port or DEFAULT_PORT)


def feature_on(ctx: AdmissionContext, key: str, *, allowed_counts: bool = True) -> bool:
    """Whether a ``config-features`` flag lets a field through (``allowed`` counts too)."""
    value = ctx.config.feature(SERVING_NS, key)
    return value == "enabled" or (allowed_counts and value == "allowed")


def check_container(
    container: Container,
    role: Role,
    volumes: dict[str, Volume],
    port: ServingPort,
    ctx: AdmissionContext,
    errs: FieldErrors,
) -> None:
    if container.name in RESERVED_CONTAINER_NAMES:
        errs.add(f'"{container.name}" is a reserved container name', "name")
    reserved = RESERVED_ENV if role is Role.SERVING else RESERVED_SIDECAR_ENV
    for i, env in enumerate(container.env or []):
        _check_env(env, reserved, ctx, errs.at("env", i))
    for i, source in enumerate(container.env_from or []):
        both = source.config_map_ref is not None and source.secret_ref is not None
        if both:
            m.multiple_one_of(errs.at("envFrom", i), "configMapRef", "secretRef")
        elif source.config_map_ref is None and source.secret_ref is None:
            m.missing_one_of(errs.at("envFrom", i), "configMapRef", "secretRef")
    if container.image:
        problem = image_problem(container.image)
        if problem:
            errs.add(
                f'Failed to parse image reference: image: "{container.image}", error: {problem}',
                "image",
            )
    elif not container.command:
        m.missing(errs, "image")
    _check_ports(container.ports or [], role, errs.at("ports"))
    _check_resources(container, errs.at("resources"))
    if container.security_context is not None:
        _check_security_context(container.security_context, ctx, errs.at("securityContext"))
    policy = container.termination_message_policy
    if policy not in (None, "", "File", "FallbackToLogsOnError"):
        m.invalid_value(errs, "terminationMessagePolicy", policy)
    _check_mounts(container.volume_mounts or [], volumes, errs.at("volumeMounts"))

    if role is Role.INIT:
        for field in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
            if getattr(container, _snake(field)) is not None:
                errs.add("field not allowed in an init container", field)
        return
    probes = (
        ("livenessProbe", container.liveness_probe),
        ("readinessProbe", container.readiness_probe),
        ("startupProbe", container.startup_probe),
    )
    if role is Role.SIDECAR and not feature_on(ctx, "multi-container-probing"):
        for field, probe in probes:
            if probe is not None:
                m.disallowed(errs, field)
        return
    for field, probe in probes:
        if probe is not None:
            check_probe(probe, port, errs.at(field), readiness=field == "readinessProbe")


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda g: "_" + g.group(1).lower(), name)


def _check_env(
    env: EnvVar, reserved: frozenset[str], ctx: AdmissionContext, errs: FieldErrors
) -> None:
    if not env.name:
        m.missing(errs, "name")
    elif env.name in reserved:
        errs.add(f'"{env.name}" is a reserved environment variable', "name")
    source = env.value_from
    if source is None:
        return
    if env.value:
        m.multiple_one_of(errs, "value", "valueFrom")
    sub = errs.at("valueFrom")
    if not feature_on(ctx, "kubernetes.podspec-fieldref"):
        for field, value in (
            ("fieldRef", source.field_ref),
            ("resourceFieldRef", source.resource_field_ref),
        ):
            if value is not None:
                m.disallowed(sub, field)
    given = [
        name
        for name, value in (
            ("configMapKeyRef", source.config_map_key_ref),
            ("secretKeyRef", source.secret_key_ref),
            ("fieldRef", source.field_ref),
            ("resourceFieldRef", source.resource_field_ref),
        )
        if value is not None
    ]
    if not given:
        m.missing_one_of(sub, "configMapKeyRef", "secretKeyRef", "fieldRef", "resourceFieldRef")
    elif len(given) > 1:
        m.multiple_one_of(sub, *given)


def _check_ports(ports: list[ContainerPort], role: Role, errs: FieldErrors) -> None:
    if not ports:
        return
    checked = ports if role is Role.INIT else ports[:1]
    for i, port in enumerate(checked):
        sub = errs.index(i) if role is Role.INIT else errs
        _check_port_basic(port, sub)
    if role is Role.INIT:
        return
    first = ports[0]
    if first.protocol not in (None, "", "TCP"):
        m.invalid_value(errs, "protocol", first.protocol)
    if (first.name or "") not in PORT_NAMES:
        errs.add(
            f"Port name {first.name} is not allowed: Name must be empty, or one of: 'h2c', 'http1'"
        )


def _check_port_basic(port: ContainerPort, errs: FieldErrors) -> None:
    number = port.container_port or 0
    if number in RESERVED_PORTS:
        m.invalid_value(
            errs,
            "containerPort",
            f"{number} is a reserved port",
            f"{number} is a reserved port, please use a different value",
        )
    if number < 0 or number > 65535:
        m.out_of_bounds(errs, "containerPort", number, 0, 65535)


def _check_resources(container: Container, errs: FieldErrors) -> None:
    resources = container.resources
    if resources is None:
        return
    for attr in ("limits", "requests"):
        for name, value in (getattr(resources, attr) or {}).items():
            if not _QUANTITY.match(str(value)):
                errs.at(attr).add(
                    "quantities must match the regular expression "
                    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                    name,
                )


def _check_security_context(sc: SecurityContext, ctx: AdmissionContext, errs: FieldErrors) -> None:
    caps = sc.capabilities
    if (
        caps is not None
        and caps.add
        and caps.add != ["NET_BIND_SERVICE"]
        and not feature_on(ctx, "kubernetes.containerspec-addcapabilities", allowed_counts=False)
    ):
        m.disallowed(errs.at("capabilities"), "add")
    for field, value in (("runAsUser", sc.run_as_user), ("runAsGroup", sc.run_as_group)):
        if value is not None and not 0 <= value <= MAX_ID:
            m.out_of_bounds(errs, field, value, 0, MAX_ID)


def _check_mounts(mounts: list[VolumeMount], volumes: dict[str, Volume], errs: FieldErrors) -> None:
    seen: set[str] = set()
    for i, mount in enumerate(mounts):
        sub = errs.index(i)
        volume = volumes.get(mount.name)
        if volume is None:
            sub.add("volumeMount has no matching volume", "name")
        clean = posixpath.normpath(mount.mount_path) if mount.mount_path else ""
        if not mount.mount_path:
            m.missing(sub, "mountPath")
        elif clean in RESERVED_PATHS:
            sub.add(f'mountPath "{clean}" is a reserved path', "mountPath")
        elif not posixpath.isabs(mount.mount_path):
            m.invalid_value(sub, "mountPath", mount.mount_path)
        elif clean in seen:
            m.invalid_value(sub, "mountPath", f'"{mount.mount_path}" must be unique')
        seen.add(clean)
        if volume is None:
            continue
        writable = volume.empty_dir is not None or volume.persistent_volume_claim is not None
        if not writable and not mount.read_only:
            sub.add("volume mount should be readOnly for this type of volume", "readOnly")
        claim = volume.persistent_volume_claim
        if claim is not None and claim.read_only and not mount.read_only:
            sub.add("volume is readOnly but volume mount is not", "readOnly")


def check_probe(probe: Probe, port: ServingPort, errs: FieldErrors, *, readiness: bool) -> None:
    """One handler, probing the serving port; a readiness probe's timings in range."""
    handlers = []
    if probe.http_get is not None:
        handlers.append("httpGet")
        named = probe.http_get.port
        if isinstance(named, str) and named and named != port.name:
            m.invalid_value(errs, "httpGet.port", named, "Probe port must match container port")
    if probe.tcp_socket is not None:
        handlers.append("tcpSocket")
        named = probe.tcp_socket.port
        if isinstance(named, str) and named and named != port.name:
            m.invalid_value(errs, "tcpSocket.port", named, "Probe port must match container port")
    if probe.exec is not None:
        handlers.append("exec")
    if probe.grpc is not None:
        handlers.append("grpc")
    if not handlers:
        m.missing_one_of(errs, "httpGet", "tcpSocket", "exec", "grpc")
    elif len(handlers) > 1:
        m.multiple_one_of(errs, *handlers)
    if not readiness:
        return
    period = probe.period_seconds or 0
    if period < 0:
        m.out_of_bounds(errs, "periodSeconds", period, 0, MAX_ID)
    if (probe.initial_delay_seconds or 0) < 0:
        m.out_of_bounds(errs, "initialDelaySeconds", probe.initial_delay_seconds, 0, MAX_ID)
    if (probe.success_threshold or 0) < 1:
        m.out_of_bounds(errs, "successThreshold", probe.success_threshold or 0, 1, MAX_ID)
    if period == 0:
        if probe.failure_threshold:
            errs.add(
                "failureThreshold is disallowed when periodSeconds is zero", "failureThreshold"
            )
        if probe.timeout_seconds:
            errs.add("timeoutSeconds is disallowed when periodSeconds is zero", "timeoutSeconds")
    else:
        if (probe.timeout_seconds or 0) < 1:
            m.out_of_bounds(errs, "timeoutSeconds", probe.timeout_seconds or 0, 1, MAX_ID)
        if (probe.failure_threshold or 0) < 1:
            m.out_of_bounds(errs, "failureThreshold", probe.failure_threshold or 0, 1, MAX_ID)
