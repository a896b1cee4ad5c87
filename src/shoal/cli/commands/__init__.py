"""The command groups of ``shoal``, one module each.

A group module has one entry point, ``register(commands, parents)``: it adds its
subcommand(s) to ``commands`` (built with ``parents`` so they take the global options) and
sets ``handler`` to a function ``(args) -> exit status``. ``shoal.cli.main`` calls every
``register`` of ``GROUPS`` in order; a new group (``service``, ``broker``, ...) is a new
module added here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from shoal.cli.commands import (
    apply,
    broker,
    channel,
    delete,
    describe,
    domain,
    event,
    eventtype,
    filter,
    get,
    kubeconfig,
    logs,
    revision,
    route,
    service,
    source,
    subscription,
    trigger,
)
from shoal.cli.context import Subcommands

Register = Callable[[Subcommands, list[argparse.ArgumentParser]], None]

GROUPS: tuple[Register, ...] = (
    kubeconfig.register,
    apply.register,
    get.register,
    describe.register,
    delete.register,
    service.register,
    revision.register,
    route.register,
    domain.register,
    logs.register,
    broker.register,
    trigger.register,
    channel.register,
    subscription.register,
    eventtype.register,
    event.register,
    filter.register,
    source.register,
)
