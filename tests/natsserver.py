"""The NATS tests' server: ``shoal.testing.NatsServer``, skipped where it is not installed.

``NatsServer(store_dir).start()`` runs ``nats-server -js -a 127.0.0.1 -p PORT -sd DIR`` and
waits until it accepts connections; ``kill()`` and ``start()`` again keep the port and the
store, as a restarted server would. Constructing one skips the calling test, with the reason,
where the binary is missing (``scripts/setup --dev`` installs it as root).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal import testing
from shoal.testing import free_port

__all__ = ["NatsServer", "free_port"]


class NatsServer(testing.NatsServer):
    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        if testing.nats_server_binary() is None:
            pytest.skip("nats-server is not installed (scripts/setup --dev installs it as root)")
        super().__init__(store_dir, port)
