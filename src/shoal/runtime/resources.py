"""Kubernetes resource quantities, turned into the limits a container engine takes.

``limits.cpu`` (``500m``, ``2``, ``0.25``) becomes ``--cpus`` and ``limits.memory``
(``128Mi``, ``1G``, ``256e6``) becomes ``--memory`` in bytes. Requests have no equivalent
on one machine and are left out. Pure; used by the container runtime.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse_quantity(value: object) -> Decimal:
    """The value of a Kubernetes quantity; ``ValueError`` when it is not one."""
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"not a quantity: {value!r}")
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation:
        raise ValueError(f"not a quantity: {value!r}") from None


def limit_flags(resources: Mapping[str, Any] | None) -> list[str]:
    """``--cpus``/``--memory`` for the container's ``resources.limits``."""
    limits = (resources or {}).get("limits") or {}
    flags: list[str] = []
    if "cpu" in limits:
        cpus = parse_quantity(limits["cpu"])
        if cpus > 0:
            flags += ["--cpus", f"{cpus.normalize():f}"]
    if "memory" in limits:
        memory = math.ceil(parse_quantity(limits["memory"]))
        if memory > 0:
            flags += ["--memory", str(memory)]
    return flags
