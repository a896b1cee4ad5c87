"""Reconcilers of the serving kinds: Service, Configuration, Route (Revision beside them)."""
