"""Dead-letter sink resolution, the same for every kind that has ``spec.delivery``.

Brokers and channels resolve ``spec.delivery.deadLetterSink`` into
``status.deadLetterSinkUri`` and mark ``DeadLetterSinkResolved`` as Knative does: True
with reason ``DeadLetterSinkNotConfigured`` when there is none, False (and a retry in ten
seconds) when it cannot be resolved yet.
"""

from __future__ import annotations

from typing import Any, Protocol

from shoal.controllers.conditions import ConditionManager
from shoal.controllers.reconciler import ReconcileResult
from shoal.controllers.resolver import DestinationResolver, ResolveError

RESOLVED = "DeadLetterSinkResolved"
FAILED = "Unable to get the DeadLetterSink's URI"


class HasDeadLetterSink(Protocol):
    dead_letter_sink_uri: str | None


async def resolve_dead_letter_sink(resolver: DestinationResolver, sink: Any, namespace: str,
                                   key: str, status: HasDeadLetterSink,
                                   conditions: ConditionManager) -> ReconcileResult | None:
    if sink is None:
        status.dead_letter_sink_uri = None
        conditions.mark_true(RESOLVED, "DeadLetterSinkNotConfigured",
                             "No dead letter sink is configured.")
        return None
    try:
        status.dead_letter_sink_uri = await resolver.resolve(sink, namespace, by=key)
    except ResolveError as err:
        status.dead_letter_sink_uri = None
        conditions.mark_false(RESOLVED, FAILED, err.message)
        return ReconcileResult(requeue_after=10)
    conditions.mark_true(RESOLVED)
    return None
