"""Status parts shared by Sequence and Parallel: the channels and subscriptions they own.

Each flow reports, for every channel and subscription it created, a reference to it and a
copy of its Ready condition. Used by the Sequence and Parallel kinds.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.core import ObjectReference
from shoal.api.model import Condition, Model


class ChannelStatus(Model):
    """The state of a channel a flow owns."""

    channel: ObjectReference | None = Field(default=None, description="The underlying channel.")
    ready: Condition | None = Field(default=None, description="Whether the channel is ready.")


class SubscriptionStatus(Model):
    """The state of a subscription a flow owns."""

    subscription: ObjectReference | None = Field(
        default=None, description="The underlying subscription."
    )
    ready: Condition | None = Field(default=None, description="Whether the subscription is ready.")
