"""A Revision's spec: the subset of Kubernetes' PodSpec Knative accepts, plus its own knobs.

``RevisionSpec`` is what ``spec.template.spec`` of a Service or Configuration holds and what
a Revision's ``spec`` freezes. Fields behind a ``config-features`` flag are modelled so that
a disabled one is refused with Knative's "must not set the field(s)"; fields Knative never
accepts are not modelled at all, so parsing refuses them as unknown fields, as Knative's CRD
schema does. Defaulting is in ``podspec_defaults.py``, validation in ``podspec_validation.py``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shoal.api.model import Model, Quantity
from shoal.api.serving.container import Container, SeccompProfile


class LocalObjectReference(Model):
    name: str | None = None


class KeyToPath(Model):
    """Projects one key of a ConfigMap or Secret to a file."""

    key: str = ""
    path: str = ""
    mode: int | None = None


class ConfigMapVolumeSource(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: int | None = None
    optional: bool | None = None


class SecretVolumeSource(Model):
    secret_name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: int | None = None
    optional: bool | None = None


class EmptyDirVolumeSource(Model):
    medium: str | None = Field(default=None, description='"" (disk) or "Memory".')
    size_limit: Quantity | None = None


class PersistentVolumeClaimVolumeSource(Model):
    claim_name: str
    read_only: bool | None = None


class ConfigMapProjection(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class SecretProjection(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class ServiceAccountTokenProjection(Model):
    audience: str | None = None
    expiration_seconds: int | None = None
    path: str = ""


class DownwardAPIVolumeFile(Model):
    path: str = ""
    field_ref: dict[str, Any] | None = None
    resource_field_ref: dict[str, Any] | None = None
    mode: int | None = None


class DownwardAPIProjection(Model):
    items: list[DownwardAPIVolumeFile] | None = None


class VolumeProjection(Model):
    config_map: ConfigMapProjection | None = None
    secret: SecretProjection | None = None
    service_account_token: ServiceAccountTokenProjection | None = None
    downward_api: DownwardAPIProjection | None = Field(default=None, alias="downwardAPI")


class ProjectedVolumeSource(Model):
    sources: list[VolumeProjection] | None = None
    default_mode: int | None = None


class Volume(Model):
    """A volume the containers may mount: exactly one source."""

    name: str = ""
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    projected: ProjectedVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-volumes-emptydir."
    )
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = Field(
        default=None,
        description="Behind the feature flag kubernetes.podspec-persistent-volume-claim.",
    )


class PodSecurityContext(Model):
    """Pod-wide security options; all but seccompProfile need
    kubernetes.podspec-securitycontext."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    fs_group: int | None = None
    fs_group_change_policy: str | None = None
    supplemental_groups: list[int] | None = None
    seccomp_profile: SeccompProfile | None = None
    sysctls: list[dict[str, Any]] | None = None
    se_linux_options: dict[str, Any] | None = None
    windows_options: dict[str, Any] | None = None


class Toleration(Model):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


class HostAlias(Model):
    ip: str | None = None
    hostnames: list[str] | None = None


class PodDNSConfig(Model):
    nameservers: list[str] | None = None
    searches: list[str] | None = None
    options: list[dict[str, Any]] | None = None


class PodSpec(Model):
    """The pod-level fields of a revision."""

    containers: list[Container] = Field(
        default_factory=list,
        description="The containers of the revision: one, or several when multi-container "
        "is enabled, exactly one of them with a port.",
    )
    volumes: list[Volume] | None = None
    service_account_name: str | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    enable_service_links: bool | None = None
    automount_service_account_token: bool | None = Field(
        default=None, description="Only false may be set."
    )
    security_context: PodSecurityContext | None = None
    init_containers: list[Container] | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-init-containers."
    )
    affinity: dict[str, Any] | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-affinity."
    )
    node_selector: dict[str, str] | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-nodeselector."
    )
    tolerations: list[Toleration] | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-tolerations."
    )
    topology_spread_constraints: list[dict[str, Any]] | None = Field(
        default=None,
        description="Behind the feature flag kubernetes.podspec-topologyspreadconstraints.",
    )
    runtime_class_name: str | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-runtimeclassname."
    )
    host_aliases: list[HostAlias] | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-hostaliases."
    )
    dns_policy: str | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-dnspolicy."
    )
    dns_config: PodDNSConfig | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-dnsconfig."
    )
    priority_class_name: str | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-priorityclassname."
    )
    scheduler_name: str | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-schedulername."
    )
    host_ipc: bool | None = Field(
        default=None,
        alias="hostIPC",
        description="Behind the feature flag kubernetes.podspec-hostipc.",
    )
    host_pid: bool | None = Field(
        default=None,
        alias="hostPID",
        description="Behind the feature flag kubernetes.podspec-hostpid.",
    )
    host_network: bool | None = Field(
        default=None, description="Behind the feature flag kubernetes.podspec-hostnetwork."
    )
    share_process_namespace: bool | None = Field(
        default=None,
        description="Behind the feature flag kubernetes.podspec-shareprocessnamespace.",
    )


class RevisionSpec(PodSpec):
    """What a revision runs and how requests reach it."""

    container_concurrency: int | None = Field(
        default=None, description="Hard limit of requests in flight per instance; 0 means no limit."
    )
    timeout_seconds: int | None = Field(
        default=None, description="Longest time a request may take before it is answered with 504."
    )
    response_start_timeout_seconds: int | None = Field(
        default=None, description="Longest time to wait for the first byte of a response."
    )
    idle_timeout_seconds: int | None = Field(
        default=None,
        description="Longest time a request may go without sending or receiving a byte.",
    )

    def serving_container(self) -> Container | None:
        """The container that receives requests: the only one, or the one with a port."""
        if len(self.containers) == 1:
            return self.containers[0]
        return next((c for c in self.containers if c.ports), None)
