"""The ``shoal`` command: ``shoal up`` and the kubectl- and kn-style commands over the API.

``shoal.cli.main`` builds the argument parser and runs one command; each command group lives
in its own module under ``shoal.cli.commands``. Commands talk to the API server over HTTP
with ``shoal.client.rest.RestClient``, like any other client.
"""
