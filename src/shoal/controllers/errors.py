"""What a reconciler raises to tell the engine what to do next.

The exception type is the instruction; the engine (``Controller``) acts on it:

    ReconcileError             a reconcile did not finish
    ├── TemporaryError         try again: after ``delay`` seconds if given, else with the
    │                          key's exponential backoff (the world may change by then)
    └── PermanentError         do not retry until the object changes; the reconciler has
                               already set a False condition saying why

    shoal.api.errors.Conflict  (from the client) the cache was stale: requeue with backoff,
                               nothing logged
    any other Exception        a bug or an outage: logged with the key, requeued with backoff

Whatever was raised, the engine still writes the status the reconciler left behind (if it
changed), as Knative does, so a reconciler can mark a condition False and then raise.
``asyncio.CancelledError`` is never caught.
"""

from __future__ import annotations


class ReconcileError(Exception):
    """Base of the errors a reconciler raises on purpose."""

    def __init__(self, message: str = "", *, reason: str = "InternalError") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason  # the Event reason recorded against the object


class TemporaryError(ReconcileError):
    """Retry later: after ``delay`` seconds, or with the key's backoff when ``None``."""

    def __init__(
        self, message: str = "", *, delay: float | None = None, reason: str = "InternalError"
    ) -> None:
        super().__init__(message, reason=reason)
        self.delay = delay


class PermanentError(ReconcileError):
    """Do not retry; the next change to the object (or a resync) brings the key back."""
