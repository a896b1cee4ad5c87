"""Kubernetes quantities and the engine's limit flags."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shoal.runtime.resources import limit_flags, parse_quantity


@pytest.mark.parametrize(("text", "value"), [
    ("500m", Decimal("0.5")), ("2", Decimal(2)), ("0.25", Decimal("0.25")),
    ("128Mi", Decimal(134217728)), ("1G", Decimal(10**9)), ("1Ki", Decimal(1024)),
    ("256e6", Decimal(256 * 10**6)), (3, Decimal(3)),
])
def test_parse_quantity(text: object, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Qi", "1.2.3"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(text)


def test_limit_flags() -> None:
    assert limit_flags({"limits": {"cpu": "500m", "memory": "64Mi"},
                        "requests": {"cpu": "100m"}}) == [
        "--cpus", "0.5", "--memory", "67108864"]
    assert limit_flags({"limits": {"cpu": "2"}}) == ["--cpus", "2"]
    assert limit_flags({"requests": {"memory": "1Gi"}}) == []
    assert limit_flags(None) == []
