"""Knative Serving's data plane: the routing table and the gateway that serves it.

``routing`` holds the table the Route reconciler publishes (hosts, splits, tags, and the
addresses of each revision's instances); ``gateway`` is the one HTTP/1.1 listener in front
of every Knative Service, a reverse proxy that routes by Host header and tag. The activator,
queue and autoscaler join them here.
"""
