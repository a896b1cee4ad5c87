"""Reconcilers of the eventing kinds: Broker, Trigger (channels and flows beside them)."""
