"""The Kubernetes-style HTTP API over the store."""
