"""What the specs of Sequence and Parallel share: ``channelTemplate`` and ``reply``.

Both kinds default a missing ``channelTemplate`` from ``default-ch-webhook`` and require
one, and both send a result with no other place to go to ``spec.reply``. Called from the
kinds' ``apply_defaults`` and ``check``.
"""

from __future__ import annotations

from typing import Protocol

from shoal.api.config import AdmissionContext
from shoal.api.duck import check_destination, default_destination
from shoal.api.errors import FieldErrors
from shoal.api.messaging.channeltemplate import (
    ChannelTemplateSpec,
    check_channel_template,
    default_channel_template,
)
from shoal.api.model import Destination


class FlowSpec(Protocol):
    channel_template: ChannelTemplateSpec | None
    reply: Destination | None


def default_flow_spec(spec: FlowSpec, ctx: AdmissionContext, namespace: str) -> None:
    if spec.channel_template is None:
        spec.channel_template = default_channel_template(ctx.config, namespace)
    default_destination(spec.reply, namespace)


def check_flow_spec(spec: FlowSpec, ctx: AdmissionContext, errs: FieldErrors) -> None:
    """``errs`` is at ``spec``."""
    if spec.channel_template is None:
        errs.required("channelTemplate")
    else:
        check_channel_template(spec.channel_template, errs.at("channelTemplate"))
    if spec.reply is not None:
        check_destination(spec.reply, ctx, errs.at("reply"))
