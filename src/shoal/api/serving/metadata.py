"""Knative's rules for the metadata of serving objects: DNS-1035 names and reserved labels.

Serving objects become host names and DNS labels, so Service, Configuration, Route and
Revision names are DNS-1035 labels (``check_name``), and ``serving.knative.dev/*`` labels
are Serving's own: a user may not set them, and the ones controllers set must match an owner
reference (``check_labels``). Called by each kind's ``check`` with ``errs`` at ``metadata``.
"""

from __future__ import annotations

from collections.abc import Iterable

from shoal.api.errors import FieldErrors
from shoal.api.model import ObjectMeta
from shoal.api.names import dns1035_label
from shoal.api.serving import keys
from shoal.api.serving import messages as m


def dns1035_problems(name: str, *, prefix: bool = False) -> list[str]:
    """Kubernetes' NameIsDNS1035Label: a prefix may end with a dash (generateName)."""
    if prefix and name.endswith("-"):
        name = name[:-1] + "a"
    return dns1035_label(name)


def not_dns1035(problems: list[str], *, prefix: bool = False) -> str:
    label = "not a DNS 1035 label prefix" if prefix else "not a DNS 1035 label"
    return f"{label}: [{' '.join(problems)}]"


def check_name(meta: ObjectMeta, errs: FieldErrors) -> None:
    """``errs`` at ``metadata``: name and generateName are DNS-1035 labels."""
    if meta.generate_name:
        problems = dns1035_problems(meta.generate_name, prefix=True)
        if problems:
            errs.add(not_dns1035(problems, prefix=True), "generateName")
    if meta.name:
        problems = dns1035_problems(meta.name)
        if problems:
            errs.add(not_dns1035(problems), "name")


def owned_by(meta: ObjectMeta, kind: str, name: str) -> bool:
    return any(ref.kind == kind and ref.name == name for ref in meta.owner_references or [])


def check_labels(
    meta: ObjectMeta,
    errs: FieldErrors,
    *,
    known: Iterable[str] = (),
    owners: dict[str, str] | None = None,
    visibility: bool = False,
) -> None:
    """``errs`` at ``metadata.labels``.

    ``known`` are Serving labels the kind may carry; ``owners`` maps a label to the kind its
    value must name in an owner reference; ``visibility`` allows the visibility label.
    """
    allowed = set(known)
    for key, value in sorted((meta.labels or {}).items()):
        if visibility and key == keys.VISIBILITY_LABEL:
            if value != keys.VISIBILITY_CLUSTER_LOCAL:
                m.invalid_value(errs, key, value)
        elif owners and key in owners:
            if not owned_by(meta, owners[key], value):
                m.missing(errs, key)
        elif key.startswith(keys.GROUP_PREFIX) and key not in allowed:
            m.invalid_key(errs, key)
