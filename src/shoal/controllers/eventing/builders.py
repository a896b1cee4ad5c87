"""Pure builders of what the channel and flow reconcilers write: children and list entries.

Knative's ``pkg/reconciler/{channel,sequence,parallel}/resources`` in Python. Every function
here takes models or plain values and returns JSON-shaped dicts; none reads the API, so each
is tested without a store. What they build is already in the form admission stores (the
namespaces of references and dead-letter sinks defaulted), so a reconciler tells whether a
child drifted by plain equality, and notices a field that was removed as well as one that
changed. Called by the reconcilers beside this module:

- ``ChannelReconciler``: ``make_backing_channel`` / ``backing_channel_spec`` (the channel of
  the template's kind, with the Channel's name, subscribers and delivery);
- ``SubscriptionReconciler``: ``make_subscriber_spec`` and ``upsert_subscriber`` /
  ``remove_subscriber`` (the Subscription's entry in its channel's ``spec.subscribers``);
- ``SequenceReconciler``: ``make_sequence_channel`` / ``make_sequence_subscription``;
- ``ParallelReconciler``: ``make_parallel_channel`` / ``make_parallel_filter_subscription`` /
  ``make_parallel_subscription``;
- all of them: ``controller_ref`` / ``is_controlled_by`` and ``condition_of`` (a condition
  of a child as read from the API).
"""

from __future__ import annotations

from typing import Any

from shoal.api.duck import DeliverySpec, default_delivery, default_destination
from shoal.api.flows.parallel import Parallel
from shoal.api.flows.sequence import Sequence
from shoal.api.messaging.channel import Channel
from shoal.api.messaging.channeltemplate import ChannelTemplateSpec
from shoal.api.messaging.subscription import Subscription, SubscriptionSpec
from shoal.api.model import Destination, KObject

Obj = dict[str, Any]

SUBSCRIPTION_API_VERSION = "messaging.knative.dev/v1"


def imc_url(ingress: str, namespace: str, name: str) -> str:
    """The address of an InMemoryChannel: a path under the eventing plane's listener."""
    return f"{ingress.rstrip('/')}/channels/{namespace}/{name}"


def controller_ref(owner: KObject) -> Obj:
    """An ownerReference marking ``owner`` as the controller (``kmeta.NewControllerRef``)."""
    return {
        "apiVersion": owner.api_version or "",
        "kind": owner.kind or "",
        "name": owner.name,
        "uid": owner.metadata.uid or "",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_controlled_by(obj: Obj, uid: str) -> bool:
    """Whether ``obj`` names the object with ``uid`` as its controller."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("controller") and ref.get("uid") == uid for ref in refs)


def condition_of(obj: Obj, type: str = "Ready") -> Obj | None:
    """The condition ``type`` in a JSON object's status, or None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type:
            return dict(cond)
    return None


def _dump(model: Any) -> Any:
    return None if model is None else model.dump()


def _template_channel(template: ChannelTemplateSpec, name: str, owner: KObject) -> Obj:
    return {
        "apiVersion": template.api_version or "",
        "kind": template.kind or "",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "ownerReferences": [controller_ref(owner)],
        },
        "spec": dict(template.spec or {}),
    }


# -- Channel -------------------------------------------------------------------------------


def backing_channel_spec(channel: Channel) -> Obj:
    """What the Channel keeps in step on its backing channel: ``subscribers`` and
    ``delivery`` (None where absent, so a merge patch removes them)."""
    template = channel.spec.channel_template or ChannelTemplateSpec()
    delivery = channel.spec.delivery
    from_template = (template.spec or {}).get("delivery")
    if delivery is None and from_template:
        delivery = DeliverySpec.model_validate(from_template)
        default_delivery(delivery, channel.namespace)
    return {
        "subscribers": [s.dump() for s in channel.spec.subscribers or []] or None,
        "delivery": _dump(delivery) or None,
    }


def make_backing_channel(channel: Channel) -> Obj:
    """The channel of the template's kind behind a Channel: same name, owned by it, with
    the template's spec plus the Channel's subscribers and delivery."""
    template = channel.spec.channel_template or ChannelTemplateSpec()
    obj = _template_channel(template, channel.name, channel)
    for key, value in backing_channel_spec(channel).items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return obj


# -- Subscription --------------------------------------------------------------------------


def _delivery_params(delivery: DeliverySpec) -> Obj:
    params = delivery.dump()
    params.pop("deadLetterSink", None)
    return params


def make_subscriber_spec(subscription: Subscription, *, subscriber_uri: str | None,
                         reply_uri: str | None, dead_letter_uri: str | None,
                         channel_delivery: Obj | None = None) -> Obj:
    """The Subscription's entry in its channel's ``spec.subscribers``.

    Delivery options are the Subscription's, else the channel's (as Knative's
    ``deliverySpec``); the dead-letter sink is given by its resolved URI.
    """
    entry: Obj = {"uid": subscription.metadata.uid or "",
                  "generation": subscription.metadata.generation or 0}
    if subscriber_uri:
        entry["subscriberUri"] = subscriber_uri
    if reply_uri:
        entry["replyUri"] = reply_uri
    delivery: Obj = {}
    if subscription.spec.delivery is not None:
        delivery = _delivery_params(subscription.spec.delivery)
    elif channel_delivery:
        delivery = {k: v for k, v in channel_delivery.items() if k != "deadLetterSink"}
    if dead_letter_uri:
        delivery["deadLetterSink"] = {"uri": dead_letter_uri}
    if delivery:
        entry["delivery"] = delivery
    return entry


def upsert_subscriber(subscribers: list[Obj], entry: Obj) -> list[Obj]:
    """``subscribers`` with ``entry`` in place of the one with its uid (appended if none)."""
    out = [dict(s) for s in subscribers]
    for i, existing in enumerate(out):
        if existing.get("uid") == entry["uid"]:
            out[i] = dict(entry)
            return out
    out.append(dict(entry))
    return out


def remove_subscriber(subscribers: list[Obj], uid: str) -> list[Obj]:
    return [dict(s) for s in subscribers if s.get("uid") != uid]


def find_subscriber(subscribers: list[Obj], uid: str) -> Obj | None:
    return next((s for s in subscribers if s.get("uid") == uid), None)


def _destination(dest: Destination | None) -> Obj | None:
    """A destination with only its ref and uri, as the flows copy them."""
    if dest is None:
        return None
    out: Obj = {}
    if dest.ref is not None:
        out["ref"] = dest.ref.dump()
    if dest.uri:
        out["uri"] = dest.uri
    return out or None


def _channel_ref(template: ChannelTemplateSpec, name: str) -> Obj:
    return {"apiVersion": template.api_version or "", "kind": template.kind or "", "name": name}


def _subscription(owner: KObject, name: str, spec: Obj) -> Obj:
    model = SubscriptionSpec.model_validate({k: v for k, v in spec.items() if v is not None})
    default_destination(model.subscriber, owner.namespace)
    default_destination(model.reply, owner.namespace)
    default_delivery(model.delivery, owner.namespace)
    return {
        "apiVersion": SUBSCRIPTION_API_VERSION,
        "kind": "Subscription",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "ownerReferences": [controller_ref(owner)],
        },
        "spec": model.dump(),
    }


# -- Sequence ------------------------------------------------------------------------------


def sequence_channel_name(sequence: str, step: int) -> str:
    return f"{sequence}-kn-sequence-{step}"


def sequence_subscription_name(sequence: str, step: int) -> str:
    return f"{sequence}-kn-sequence-{step}"


def make_sequence_channel(sequence: Sequence, step: int) -> Obj:
    """The channel in front of step ``step``, of the template's kind."""
    template = sequence.spec.channel_template or ChannelTemplateSpec()
    return _template_channel(template, sequence_channel_name(sequence.name, step), sequence)


def make_sequence_subscription(sequence: Sequence, step: int) -> Obj:
    """Channel ``step`` → step ``step``; its reply to channel ``step + 1``, the last one's to
    the Sequence's reply."""
    template = sequence.spec.channel_template or ChannelTemplateSpec()
    steps = sequence.spec.steps or []
    current = steps[step]
    reply: Obj | None
    if step < len(steps) - 1:
        reply = {"ref": {**_channel_ref(template, sequence_channel_name(sequence.name, step + 1)),
                         "namespace": sequence.namespace}}
    else:
        reply = _destination(sequence.spec.reply)
    return _subscription(sequence, sequence_subscription_name(sequence.name, step), {
        "channel": _channel_ref(template, sequence_channel_name(sequence.name, step)),
        "subscriber": _destination(current),
        "reply": reply,
        "delivery": _dump(current.delivery),
    })


# -- Parallel ------------------------------------------------------------------------------


def parallel_channel_name(parallel: str) -> str:
    """The ingress channel, which every branch's filter subscribes to."""
    return f"{parallel}-kn-parallel"


def parallel_branch_channel_name(parallel: str, branch: int) -> str:
    """The channel between a branch's filter and its subscriber."""
    return f"{parallel}-kn-parallel-{branch}"


def parallel_filter_subscription_name(parallel: str, branch: int) -> str:
    return f"{parallel}-kn-parallel-filter-{branch}"


def parallel_subscription_name(parallel: str, branch: int) -> str:
    return f"{parallel}-kn-parallel-{branch}"


def make_parallel_channel(parallel: Parallel, name: str) -> Obj:
    template = parallel.spec.channel_template or ChannelTemplateSpec()
    return _template_channel(template, name, parallel)


def make_parallel_filter_subscription(parallel: Parallel, branch: int) -> Obj:
    """Ingress channel → the branch's filter (or straight on when it has none); the reply
    goes to the branch's channel."""
    template = parallel.spec.channel_template or ChannelTemplateSpec()
    current = (parallel.spec.branches or [])[branch]
    target = _channel_ref(template, parallel_branch_channel_name(parallel.name, branch))
    return _subscription(parallel, parallel_filter_subscription_name(parallel.name, branch), {
        "channel": _channel_ref(template, parallel_channel_name(parallel.name)),
        "subscriber": _destination(current.filter),
        "reply": {"ref": {**target, "namespace": parallel.namespace}},
    })


def make_parallel_subscription(parallel: Parallel, branch: int) -> Obj:
    """The branch's channel → its subscriber; the reply to the branch's reply, else the
    Parallel's."""
    template = parallel.spec.channel_template or ChannelTemplateSpec()
    current = (parallel.spec.branches or [])[branch]
    reply = current.reply if current.reply is not None else parallel.spec.reply
    return _subscription(parallel, parallel_subscription_name(parallel.name, branch), {
        "channel": _channel_ref(template, parallel_branch_channel_name(parallel.name, branch)),
        "subscriber": _destination(current.subscriber),
        "reply": _destination(reply),
        "delivery": _dump(current.delivery),
    })
