"""Kinds of ``flows.knative.dev``: Sequence and Parallel.

``TYPES`` lists them for the catalog the API server and the CLI build on.
"""

from shoal.api.flows.parallel import Parallel
from shoal.api.flows.sequence import Sequence
from shoal.api.types import ADDRESS_URL, AGE, READY, REASON, ResourceType

GROUP = "flows.knative.dev"
CATEGORIES = ("all", "knative", "flows")

TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        GROUP,
        "v1",
        "Sequence",
        "sequences",
        Sequence,
        categories=CATEGORIES,
        columns=(ADDRESS_URL, AGE, READY, REASON),
        description="Sequence defines a sequence of Subscribers that will be wired in series "
        "through Channels and Subscriptions.",
    ),
    ResourceType(
        GROUP,
        "v1",
        "Parallel",
        "parallels",
        Parallel,
        categories=CATEGORIES,
        columns=(ADDRESS_URL, AGE, READY, REASON),
        description="Parallel defines conditional branches that will be wired in series "
        "through Channels and Subscriptions.",
    ),
)

__all__ = ["TYPES", "Parallel", "Sequence"]
