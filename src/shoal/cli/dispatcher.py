"""The event dispatcher process, and ``shoal up``'s supervision of it.

``shoal up`` accepts events (broker and channel ingress, the durable log's only writer) and
runs the control plane; the consumers of the durable log (one per Trigger of a durable
broker and per channel subscriber) run here, in a process of their own, so that accepting
and delivering events use two cores instead of sharing one interpreter. This process
follows the API over REST like any client, reads the log's file, delivers, sends replies
back through the broker's ingress, and reports its consumers' positions to ``shoal up``
over the link (``shoal.eventing.follower``).

Run by ``shoal up`` (``DispatcherProcess``), never by hand:
``python -m shoal.cli.dispatcher --server URL --data-dir DIR --ingress URL --link-fd N``.
It ends on SIGTERM or SIGINT, and when ``shoal up`` is gone (the link closes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from pathlib import Path

from shoal.cli import process
from shoal.client.rest import RestClient
from shoal.controllers.factory import InformerFactory
from shoal.eventing.follower import FollowerLog, link_pair
from shoal.eventing.plane import DispatchPlane, EventingPlane

log = logging.getLogger("shoal.dispatcher")

RESTART_DELAY = 0.5  # seconds before the first restart; doubles while it keeps failing
RESTART_DELAY_MAX = 10.0
STOP_GRACE = 10.0  # seconds a stopping dispatcher has to write its positions


class DispatcherProcess:
    """Runs the dispatcher process for ``plane`` and starts it again whenever it ends
    before ``stop``: each time on a new link, so the new process starts from the cursors
    the log has."""

    def __init__(self, plane: EventingPlane, server: str, data_dir: Path, *,
                 log_level: str = "info") -> None:
        self.plane = plane
        self.server = server
        self.data_dir = data_dir
        self.log_level = log_level
        self.process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="event dispatcher")

    async def _spawn(self) -> asyncio.subprocess.Process:
        mine, theirs = link_pair()
        try:
            self.plane.link(mine)
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "shoal.cli.dispatcher", "--server", self.server,
                "--data-dir", str(self.data_dir), "--ingress", self.plane.url,
                "--link-fd", str(theirs.fileno()), "--log-level", self.log_level,
                pass_fds=(theirs.fileno(),), start_new_session=True)
        finally:
            theirs.close()

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RESTART_DELAY
        while not self._stopping:
            started = loop.time()
            try:
                self.process = await self._spawn()
            except OSError as exc:
                log.error("cannot start the event dispatcher: %s", exc)
            else:
                code = await self.process.wait()
                if self._stopping:
                    return
                log.warning("the event dispatcher exited with %s; starting it again", code)
            delay = RESTART_DELAY if loop.time() - started > 30 else min(
                2 * delay, RESTART_DELAY_MAX)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        self._stopping = True
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def serve(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    token_file = data_dir / "token"
    token = token_file.read_text().strip() if token_file.exists() else None
    link = socket.socket(fileno=args.link_fd)
    client = RestClient(args.server, token)
    informers = InformerFactory(client)
    plane = DispatchPlane(client, informers, FollowerLog(data_dir / "events.db", link),
                          args.ingress)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ending = [asyncio.create_task(stop.wait()), asyncio.create_task(plane.log.gone.wait())]
    starting = asyncio.create_task(plane.start())
    try:
        # shoal up may go (or ask this process to stop) while it is still starting
        done, _ = await asyncio.wait([starting, *ending], return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            starting.result()
            process.settle_gc()
            await asyncio.wait(ending, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (starting, *ending):
            task.cancel()
        await asyncio.gather(starting, *ending, return_exceptions=True)
        await plane.stop()
        await informers.stop()
        await client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shoal-dispatcher", description=__doc__)
    parser.add_argument("--server", required=True, help="the API server's URL")
    parser.add_argument("--data-dir", required=True, help="shoal up's data directory")
    parser.add_argument("--ingress", required=True, help="the eventing ingress's base URL")
    parser.add_argument("--link-fd", type=int, required=True,
                        help="this process's end of the link to shoal up")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return process.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
