"""The API client interface, with an in-process and a REST implementation."""
