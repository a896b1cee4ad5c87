"""The container of a Revision: Kubernetes' Container, cut to the fields Knative accepts.

Models only; ``podspec.py`` builds the pod-level spec from them, ``podspec_defaults.py``
fills them in and ``container_validation.py`` checks them. The runtime reads them to start an
instance (image or command, args, env, port, probes, mounts, resources).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shoal.api.model import IntOrString, Model, Quantity


class ConfigMapKeySelector(Model):
    """Selects a key of a ConfigMap."""

    name: str | None = Field(default=None, description="Name of the ConfigMap.")
    key: str = Field(description="The key to select.")
    optional: bool | None = None


class SecretKeySelector(Model):
    """Selects a key of a Secret."""

    name: str | None = Field(default=None, description="Name of the Secret.")
    key: str = Field(description="The key of the secret to select from.")
    optional: bool | None = None


class ObjectFieldSelector(Model):
    """Selects a field of the pod (``metadata.name``, ``metadata.namespace``, ...)."""

    api_version: str | None = None
    field_path: str = Field(description="Path of the field to select.")


class ResourceFieldSelector(Model):
    """Selects a resource of the container (``limits.cpu``, ``requests.memory``, ...)."""

    container_name: str | None = None
    resource: str
    divisor: Quantity | None = None


class EnvVarSource(Model):
    """Where an environment variable's value comes from."""

    config_map_key_ref: ConfigMapKeySelector | None = None
    secret_key_ref: SecretKeySelector | None = None
    field_ref: ObjectFieldSelector | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-fieldref."
    )
    resource_field_ref: ResourceFieldSelector | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-fieldref."
    )


class EnvVar(Model):
    """An environment variable of the container."""

    name: str = Field(description="Name of the variable; PORT and K_* names are reserved.")
    value: str | None = None
    value_from: EnvVarSource | None = None


class ConfigMapEnvSource(Model):
    name: str | None = None
    optional: bool | None = None


class SecretEnvSource(Model):
    name: str | None = None
    optional: bool | None = None


class EnvFromSource(Model):
    """Every key of a ConfigMap or Secret as environment variables."""

    prefix: str | None = None
    config_map_ref: ConfigMapEnvSource | None = None
    secret_ref: SecretEnvSource | None = None


class ContainerPort(Model):
    """The one port the serving container listens on; its name picks the protocol."""

    name: str | None = Field(default=None, description="Empty, http1 or h2c (HTTP/2 without TLS).")
    container_port: int | None = Field(
        default=None, description="The port the container listens on; 8080 when unset."
    )
    protocol: str | None = Field(default=None, description="TCP, the only protocol served.")


class HTTPHeader(Model):
    name: str
    value: str


class HTTPGetAction(Model):
    """Probe by an HTTP GET; any status from 200 to 399 is a success."""

    path: str | None = None
    port: IntOrString | None = None
    host: str | None = None
    scheme: str | None = None
    http_headers: list[HTTPHeader] | None = None


class TCPSocketAction(Model):
    """Probe by opening a TCP connection; port 0 means the container's port."""

    port: IntOrString = 0
    host: str | None = None


class ExecAction(Model):
    command: list[str] | None = None


class GRPCAction(Model):
    port: int = 0
    service: str | None = None


class Probe(Model):
    """How to tell that the container is ready (or alive)."""

    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec: ExecAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int | None = None
    timeout_seconds: int | None = None
    period_seconds: int | None = Field(
        default=None,
        description="Seconds between probes; 0 (Knative's default) probes aggressively "
        "until the container is ready.",
    )
    success_threshold: int | None = None
    failure_threshold: int | None = None
    termination_grace_period_seconds: int | None = None


class ResourceRequirements(Model):
    """Compute resources of the container."""

    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None


class Capabilities(Model):
    add: list[str] | None = None
    drop: list[str] | None = None


class SeccompProfile(Model):
    type: str
    localhost_profile: str | None = None


class SecurityContext(Model):
    """Security options of the container."""

    allow_privilege_escalation: bool | None = None
    capabilities: Capabilities | None = None
    read_only_root_filesystem: bool | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    run_as_user: int | None = None
    seccomp_profile: SeccompProfile | None = None


class LifecycleHandler(Model):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    sleep: dict[str, Any] | None = None


class Lifecycle(Model):
    """Actions run right after the container starts and before it stops."""

    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None


class VolumeMount(Model):
    """Where a volume of the revision appears in the container."""

    name: str = Field(description="Name of a volume of the revision.")
    mount_path: str = Field(description="Absolute path in the container.")
    read_only: bool | None = None
    sub_path: str | None = None


class Container(Model):
    """A container of the revision. With several containers, the one with a port serves."""

    name: str | None = Field(
        default=None, description="Defaults to user-container (user-container-N with several)."
    )
    image: str | None = Field(
        default=None,
        description="The OCI image to run. Shoal may instead run a local command: give "
        "command and no image.",
    )
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    env: list[EnvVar] | None = None
    env_from: list[EnvFromSource] | None = None
    ports: list[ContainerPort] | None = Field(
        default=None, description="At most one port, on the serving container."
    )
    resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMount] | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    lifecycle: Lifecycle | None = None
    image_pull_policy: str | None = None
    security_context: SecurityContext | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None


class ContainerStatus(Model):
    """The image a container of the revision resolved to."""

    name: str | None = None
    image_digest: str | None = None
