"""How the CLI reports failures: kubectl's wording for API errors and usage errors.

Commands raise ``CliError`` for what the user got wrong (an unknown resource type, a file
that does not parse) and let ``ApiError`` from the client through; ``format_error`` turns
either into the lines kubectl would print, and the command edge in ``shoal.cli.context``
writes them to stderr and exits 1.
"""

from __future__ import annotations

from shoal.api.errors import ApiError, Invalid
from shoal.client.rest import ServerUnreachable


class CliError(Exception):
    """A mistake in what the user asked for; printed as ``error: <message>``."""


def format_error(err: Exception, action: str = "") -> str:
    """kubectl's text for ``err``; ``action`` as in ``error when creating "svc.yaml"``.

    An ``Invalid`` error with causes names one field per line::

        Error from server (Invalid): error when creating "svc.yaml": Service.serving...
        * spec.template.spec.containers[0].image: Required value
    """
    if isinstance(err, CliError):
        return f"error: {err}"
    if isinstance(err, ServerUnreachable):
        return str(err)
    if not isinstance(err, ApiError):
        return f"error: {err}"
    prefix = f"Error from server ({err.reason}): "
    if action:
        prefix += f"{action}: "
    causes = err.causes if isinstance(err, Invalid) else []
    if not causes:
        return prefix + err.message
    head, sep, _listing = err.message.partition(" is invalid: ")
    lines = [prefix + (head + " is invalid:" if sep else err.message)]
    lines += [f"* {cause}" for cause in causes]
    return "\n".join(lines)
