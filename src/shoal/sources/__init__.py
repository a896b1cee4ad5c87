"""Event sources that run inside ``shoal up``: adapters that bring external systems' messages
into Knative as CloudEvents, and the reconcilers that start them from the API's sources."""
