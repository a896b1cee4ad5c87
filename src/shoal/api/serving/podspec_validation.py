"""Knative's rules for a RevisionSpec: feature-gated fields, volumes, containers, timeouts.

Called by Revision validation and by the validation of every revision template
(Configuration, Service) with ``errs`` at the spec (``spec`` or ``spec.template.spec``).
Fields behind a disabled ``config-features`` flag are refused with Knative's "must not set
the field(s)"; per-container rules are in ``container_validation.py``.
"""

from __future__ import annotations

from shoal.api.config import AdmissionContext
from shoal.api.errors import FieldErrors
from shoal.api.names import dns1123_label, dns1123_subdomain
from shoal.api.serving import messages as m
from shoal.api.serving.container_validation import (
    MAX_ID,
    Role,
    ServingPort,
    check_container,
    feature_on,
)
from shoal.api.serving.podspec import (
    KeyToPath,
    PodSecurityContext,
    RevisionSpec,
    Volume,
    VolumeProjection,
)
from shoal.api.serving.podspec_defaults import config_int

# PodSpec field (wire name) → the config-features flag that lets it through.
FEATURE_FIELDS: tuple[tuple[str, str], ...] = (
    ("affinity", "kubernetes.podspec-affinity"),
    ("topologySpreadConstraints", "kubernetes.podspec-topologyspreadconstraints"),
    ("hostAliases", "kubernetes.podspec-hostaliases"),
    ("nodeSelector", "kubernetes.podspec-nodeselector"),
    ("runtimeClassName", "kubernetes.podspec-runtimeclassname"),
    ("tolerations", "kubernetes.podspec-tolerations"),
    ("priorityClassName", "kubernetes.podspec-priorityclassname"),
    ("schedulerName", "kubernetes.podspec-schedulername"),
    ("dnsPolicy", "kubernetes.podspec-dnspolicy"),
    ("dnsConfig", "kubernetes.podspec-dnsconfig"),
    ("hostIPC", "kubernetes.podspec-hostipc"),
    ("hostPID", "kubernetes.podspec-hostpid"),
    ("hostNetwork", "kubernetes.podspec-hostnetwork"),
    ("shareProcessNamespace", "kubernetes.podspec-shareprocessnamespace"),
)


def check_revision_spec(spec: RevisionSpec, ctx: AdmissionContext, errs: FieldErrors) -> None:
    check_pod_spec(spec, ctx, errs)
    max_timeout = config_int(ctx, "max-revision-timeout-seconds", 600)
    timeout = spec.timeout_seconds
    if timeout and not 0 <= timeout <= max_timeout:
        m.out_of_bounds(errs, "timeoutSeconds", timeout, 0, max_timeout)
    bound = timeout if timeout and timeout > 0 else max_timeout
    for field, value in (
        ("responseStartTimeoutSeconds", spec.response_start_timeout_seconds),
        ("idleTimeoutSeconds", spec.idle_timeout_seconds),
    ):
        if value and not 0 <= value <= bound:
            m.out_of_bounds(errs, field, value, 0, bound)
    if spec.container_concurrency is not None:
        allow_zero = ctx.config.serving_default("allow-container-concurrency-zero")
        low = 0 if allow_zero.strip().lower() != "false" else 1
        high = config_int(ctx, "container-concurrency-max-limit", 1000)
        if not low <= spec.container_concurrency <= high:
            m.out_of_bounds(errs, "containerConcurrency", spec.container_concurrency, low, high)


def check_pod_spec(spec: RevisionSpec, ctx: AdmissionContext, errs: FieldErrors) -> None:
    given = spec.model_dump(by_alias=True, exclude_none=True)
    for field, flag in FEATURE_FIELDS:
        if field in given and not feature_on(ctx, flag):
            m.disallowed(errs, field)
    if spec.automount_service_account_token:
        m.disallowed(errs, "automountServiceAccountToken")
    if spec.security_context is not None:
        _check_pod_security_context(spec.security_context, ctx, errs.at("securityContext"))

    mounted = {
        mount.name
        for c in [*spec.containers, *(spec.init_containers or [])]
        for mount in c.volume_mounts or []
    }
    volumes = _check_volumes(spec.volumes or [], mounted, ctx, errs.at("volumes"))

    serving = [c for c in spec.containers if c.ports]
    port_count = sum(len(c.ports or []) for c in spec.containers)
    port = ServingPort.of(serving[0].ports[0] if serving and serving[0].ports else None)
    if port_count == 0 and len(spec.containers) > 1:
        m.missing(errs.at("containers[*]"), "ports")
    elif port_count > 1:
        errs.at("containers[*]").add(
            "more than one container port is set: "
            "Only a single port is allowed across all containers",
            "ports",
        )

    if not spec.containers:
        m.missing(errs, "containers")
    elif len(spec.containers) == 1:
        check_container(
            spec.containers[0], Role.SERVING, volumes, port, ctx, errs.at("containers", 0)
        )
    elif not feature_on(ctx, "multi-container", allowed_counts=False):
        errs.add(f"multi-container is off, but found {len(spec.containers)} containers")
    else:
        names: set[str] = set()
        for i, container in enumerate(spec.containers):
            sub = errs.at("containers", i)
            if container.name in names:
                sub.add(f'duplicate container name "{container.name}"', "name")
            names.add(container.name or "")
            role = Role.SERVING if container.ports else Role.SIDECAR
            check_container(container, role, volumes, port, ctx, sub)

    if spec.init_containers:
        if not feature_on(ctx, "kubernetes.podspec-init-containers", allowed_counts=False):
            errs.add(
                "pod spec support for init-containers is off, but found "
                f"{len(spec.init_containers)} init containers"
            )
        else:
            taken = {c.name for c in spec.containers}
            for i, container in enumerate(spec.init_containers):
                sub = errs.at("initContainers", i)
                if container.name in taken:
                    sub.add(f'duplicate container name "{container.name}"', "name")
                taken.add(container.name)
                check_container(container, Role.INIT, volumes, port, ctx, sub)

    if spec.service_account_name:
        for problem in dns1123_subdomain(spec.service_account_name):
            m.invalid_value(errs, "serviceAccountName", spec.service_account_name, problem)


def _check_pod_security_context(
    sc: PodSecurityContext, ctx: AdmissionContext, errs: FieldErrors
) -> None:
    if not feature_on(ctx, "kubernetes.podspec-securitycontext", allowed_counts=False):
        for field in sc.model_dump(by_alias=True, exclude_none=True):
            if field != "seccompProfile":
                m.disallowed(errs, field)
    for field, value in (
        ("runAsUser", sc.run_as_user),
        ("runAsGroup", sc.run_as_group),
        ("fsGroup", sc.fs_group),
    ):
        if value is not None and not 0 <= value <= MAX_ID:
            m.out_of_bounds(errs, field, value, 0, MAX_ID)
    for i, gid in enumerate(sc.supplemental_groups or []):
        if not 0 <= gid <= MAX_ID:
            m.out_of_bounds(errs.at("supplementalGroups", i), None, gid, 0, MAX_ID)


def _check_volumes(
    volumes: list[Volume], mounted: set[str], ctx: AdmissionContext, errs: FieldErrors
) -> dict[str, Volume]:
    by_name: dict[str, Volume] = {}
    empty_dir_on = feature_on(ctx, "kubernetes.podspec-volumes-emptydir", allowed_counts=False)
    claims_on = feature_on(ctx, "kubernetes.podspec-persistent-volume-claim", allowed_counts=False)
    writes_on = feature_on(ctx, "kubernetes.podspec-persistent-volume-write", allowed_counts=False)
    for i, volume in enumerate(volumes):
        sub = errs.index(i)
        if volume.name in by_name:
            sub.add(f'duplicate volume name "{volume.name}"', "name")
        if volume.name not in mounted:
            sub.add(f'volume with name "{volume.name}" not mounted', "name")
        if not volume.name:
            m.missing(sub, "name")
        elif dns1123_label(volume.name):
            m.invalid_value(sub, "name", volume.name)
        _check_volume_source(
            volume, sub, empty_dir_on=empty_dir_on, claims_on=claims_on, writes_on=writes_on
        )
        by_name[volume.name] = volume
    return by_name


def _check_volume_source(
    volume: Volume, errs: FieldErrors, *, empty_dir_on: bool, claims_on: bool, writes_on: bool
) -> None:
    claim = volume.persistent_volume_claim
    if claim is not None:
        if not claims_on:
            errs.add(
                "Persistent volume claim support is disabled, but found persistent "
                f"volume claim {claim.claim_name}"
            )
        if not claim.read_only and not writes_on:
            errs.add(
                "Persistent volume write support is disabled, but found persistent "
                f"volume claim {claim.claim_name} that is not read-only"
            )
    if volume.empty_dir is not None:
        if not empty_dir_on:
            errs.add(
                f"EmptyDir volume support is disabled, but found EmptyDir volume {volume.name}"
            )
        if volume.empty_dir.medium not in (None, "", "Memory"):
            m.invalid_value(errs.at("emptyDir"), "medium", volume.empty_dir.medium)
    specified = []
    if volume.secret is not None:
        specified.append("secret")
        _check_items(volume.secret.items, errs.at("secret"))
    if volume.config_map is not None:
        specified.append("configMap")
        _check_items(volume.config_map.items, errs.at("configMap"))
    if volume.projected is not None:
        specified.append("projected")
        for j, source in enumerate(volume.projected.sources or []):
            _check_projection(source, errs.at("projected").at("sources", j))
    if volume.empty_dir is not None:
        specified.append("emptyDir")
    if claim is not None:
        specified.append("persistentVolumeClaim")
    if not specified:
        choices = ["secret", "configMap", "projected"]
        choices += ["emptyDir"] if empty_dir_on else []
        choices += ["persistentVolumeClaim"] if claims_on else []
        m.missing_one_of(errs, *choices)
    elif len(specified) > 1:
        m.multiple_one_of(errs, *specified)


def _check_items(items: list[KeyToPath] | None, errs: FieldErrors) -> None:
    for j, item in enumerate(items or []):
        for field in ("key", "path"):
            if not getattr(item, field):
                m.missing(errs.at("items", j), field)


def _check_projection(source: VolumeProjection, errs: FieldErrors) -> None:
    specified = []
    if source.secret is not None:
        specified.append("secret")
        if not source.secret.name:
            m.missing(errs.at("secret"), "name")
        _check_items(source.secret.items, errs.at("secret"))
    if source.config_map is not None:
        specified.append("configMap")
        if not source.config_map.name:
            m.missing(errs.at("configMap"), "name")
        _check_items(source.config_map.items, errs.at("configMap"))
    if source.service_account_token is not None:
        specified.append("serviceAccountToken")
        if not source.service_account_token.path:
            m.missing(errs.at("serviceAccountToken"), "path")
    if source.downward_api is not None:
        specified.append("downwardAPI")
        for j, item in enumerate(source.downward_api.items or []):
            sub = errs.at("downwardAPI").at("items", j)
            if item.field_ref is None and item.resource_field_ref is None:
                m.missing_one_of(sub, "fieldRef", "resourceFieldRef")
            elif item.field_ref is not None and item.resource_field_ref is not None:
                m.multiple_one_of(sub, "fieldRef", "resourceFieldRef")
            if not item.path:
                m.missing(sub, "path")
    if not specified:
        m.missing_one_of(errs, "secret", "configMap", "serviceAccountToken", "downwardAPI")
    elif len(specified) > 1:
        m.multiple_one_of(errs, *specified)
