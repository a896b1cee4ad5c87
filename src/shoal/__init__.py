"""Shoal: Knative Serving and Eventing on one machine."""

__version__ = "0.1.0"
