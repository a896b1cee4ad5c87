"""Traffic targets: how a Route (or a Service's route) splits requests among revisions.

The same ``TrafficTarget`` is written by users in ``spec.traffic`` and by the Route
controller in ``status.traffic`` (resolved to revision names, with tag URLs). Service and
Route defaulting call ``default_traffic``, their validation ``check_traffic``. The gateway and
the Route reconciler read the model.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.errors import FieldErrors
from shoal.api.model import Model
from shoal.api.names import qualified_name
from shoal.api.serving import messages as m
from shoal.api.serving.metadata import dns1035_problems, not_dns1035


class TrafficTarget(Model):
    """A share of the traffic, sent to a revision or to a configuration's latest one."""

    tag: str | None = Field(
        default=None, description="Also reach this target on its own URL, {tag}-{route host}."
    )
    revision_name: str | None = Field(default=None, description="The revision to send traffic to.")
    configuration_name: str | None = Field(
        default=None, description="Send traffic to the latest ready revision of this configuration."
    )
    latest_revision: bool | None = Field(
        default=None,
        description="Follow the latest ready revision (true), or pin revisionName (false).",
    )
    percent: int | None = Field(
        default=None, description="Share of the traffic, 0 to 100; all shares sum to 100."
    )
    url: str | None = Field(
        default=None, description="The target's own URL when it has a tag (status only)."
    )


def default_traffic(
    traffic: list[TrafficTarget] | None, *, service: bool
) -> list[TrafficTarget] | None:
    """A Service without traffic sends all of it to its latest revision; a target without
    latestRevision follows the latest unless it names a revision."""
    if not traffic and service:
        return [TrafficTarget(latest_revision=True, percent=100)]
    for target in traffic or []:
        if target.latest_revision is None:
            target.latest_revision = not target.revision_name
    return traffic


def check_traffic(traffic: list[TrafficTarget] | None, errs: FieldErrors, *, service: bool) -> None:
    """Knative's validateTrafficList for a spec; ``errs`` at ``spec.traffic``.

    In a Service the configuration is implied: targets may not name one.
    """
    seen: dict[str, int] = {}
    total = 0
    for i, target in enumerate(traffic or []):
        sub = errs.index(i)
        _check_target(target, sub, service=service)
        total += target.percent or 0
        if not target.tag:
            continue
        problems = dns1035_problems(target.tag)
        if problems:
            m.invalid_value(sub, "tag", not_dns1035(problems))
        if target.tag in seen:
            sub.add(f'Multiple definitions for "{target.tag}"', "tag")
        else:
            seen[target.tag] = i
    if total != 100:
        errs.add(f"Traffic targets sum to {total}, want 100")


def _check_target(target: TrafficTarget, errs: FieldErrors, *, service: bool) -> None:
    revision = target.revision_name or ""
    configuration = target.configuration_name or ""
    if target.latest_revision is not None and bool(revision) == target.latest_revision:
        verb = "true" if target.latest_revision else "false"
        errs.add(
            f'may not set revisionName "{revision}" when latestRevision is {verb}', "latestRevision"
        )
    if service and configuration:
        m.disallowed(errs, "configurationName")
    elif revision and configuration:
        m.multiple_one_of(errs, "revisionName", "configurationName")
    elif revision:
        _check_qualified(revision, "revisionName", errs)
    elif configuration:
        _check_qualified(configuration, "configurationName", errs)
    elif not service:
        m.missing_one_of(errs, "revisionName", "configurationName")
    if target.percent is not None and not 0 <= target.percent <= 100:
        m.out_of_bounds(errs, "percent", target.percent, 0, 100)
    if target.url:
        m.disallowed(errs, "url")


def _check_qualified(name: str, field: str, errs: FieldErrors) -> None:
    problems = qualified_name(name)
    if problems:
        errs.at(field).add(f'invalid key name "{name}": ' + ", ".join(problems))
