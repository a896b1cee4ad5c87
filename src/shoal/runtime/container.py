"""The ``podman``/``docker`` runtime: a revision's OCI image run as local containers.

``ContainerRuntime`` drives the engine's command line (see ``engine``): ``run -d`` with
the serving port published on loopback (``-p 127.0.0.1:HOSTPORT:PORT``, the instance's
address), the runtime contract's env, ``--entrypoint``/args for ``command``/``args``,
``--cpus``/``--memory`` from ``resources.limits`` and labels naming the instance, its
revision and the state directory that owns it. A program that serves nothing (a source's,
``InstanceSpec.serves`` False) publishes no port and runs on the host's network instead, so
that loopback URLs such as ``K_SINK`` reach the host. A container that exits is started again
(its log goes on); ``stop`` is ``stop -t GRACE`` then ``rm -f``. Images are never pulled
when present: a missing one is pulled unless the pull policy is ``Never``, and failing that
the instance is ``FAILED`` with ``ErrImagePull``/``ErrImageNeverPull``, as the kubelet says.
``reap_orphans`` removes containers an earlier Shoal on the same state directory left.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, Literal

from shoal.runtime.backoff import CrashBackoff
from shoal.runtime.base import (
    PODMAN,
    REASON_ERR_IMAGE_NEVER_PULL,
    REASON_ERR_IMAGE_PULL,
    REASON_IMAGE_PULL_BACKOFF,
    InstanceSpec,
)
from shoal.runtime.clock import Clock
from shoal.runtime.command import CommandTimeout
from shoal.runtime.contract import command_line, instance_env
from shoal.runtime.engine import ContainerEngine, EngineError, available
from shoal.runtime.probes import (
    ExecFunc,
    Probe,
    Prober,
    ProbeResult,
)
from shoal.runtime.resources import limit_flags
from shoal.runtime.supervised import SupervisedRuntime
from shoal.runtime.supervisor import Driver, LaunchError, Workload

__all__ = ["LABEL_INSTANCE", "LABEL_OWNER", "LABEL_REVISION", "ContainerRuntime",
           "PullPolicy", "available"]

LABEL_INSTANCE = "shoal.dev/instance"
LABEL_REVISION = "shoal.dev/revision"
LABEL_OWNER = "shoal.dev/owner"

PullPolicy = Literal["never", "missing", "always"]
_POLICIES: dict[str, PullPolicy] = {"Never": "never", "IfNotPresent": "missing",
                                    "Always": "always"}


def owner_label(state_dir: Path) -> str:
    """The owner label's value: a short hash of the state directory's absolute path."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:16]


class ContainerRuntime(SupervisedRuntime):
    def __init__(self, engine: str, state_dir: Path, *,
                 clock: Clock | None = None, pull: PullPolicy | None = None,
                 backoff: Callable[[], CrashBackoff] = CrashBackoff,
                 restart_grace: float = 30.0) -> None:
        super().__init__(clock=clock, backoff=backoff, restart_grace=restart_grace)
        self.name = engine
        self.engine = ContainerEngine(engine)
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.owner = owner_label(self.state_dir)
        self._pull = pull

    @staticmethod
    async def available(engine: str = PODMAN) -> bool:
        return await available(engine)

    def _driver(self, instance_id: str, spec: InstanceSpec, port: int) -> Driver:
        return _ContainerDriver(
            self.engine, instance_id, str(spec.container.get("image") or ""),
            self._run_args(instance_id, spec, port), self._pull_policy(spec.container),
            Prober(self._ports.host, port, self._run_exec(instance_id)),
            on_cleanup=lambda: self._ports.release(port))

    def _log_lines(self, instance_id: str, *, follow: bool,
                   tail: int | None) -> AsyncGenerator[str, None]:
        """The container's output, read back from the engine."""
        return self.engine.logs(instance_id, follow=follow, tail=tail)

    async def reap_orphans(self) -> builtins.list[str]:
        """Remove the containers an earlier Shoal on this state directory left behind."""
        names = await self.engine.labelled(f"{LABEL_OWNER}={self.owner}")
        orphans = [name for name in names if name not in self._table]
        for name in orphans:
            await self.engine.remove(name)
        return orphans

    # -- building blocks ----------------------------------------------------------------

    def _pull_policy(self, container: dict[str, Any]) -> PullPolicy:
        if self._pull is not None:
            return self._pull
        return _POLICIES.get(str(container.get("imagePullPolicy") or ""), "missing")

    def _run_args(self, instance_id: str, spec: InstanceSpec, port: int) -> builtins.list[str]:
        """Everything after ``run -d``: the options, the image, then its arguments."""
        container = spec.container
        env = instance_env(spec)
        command, args = command_line(container, env)
        argv = ["--name", instance_id, "--pull", "never",
                "--label", f"{LABEL_INSTANCE}={instance_id}",
                "--label", f"{LABEL_REVISION}={spec.revision}",
                "--label", f"{LABEL_OWNER}={self.owner}"]
        if spec.serves:
            argv += ["-p", f"{self._ports.host}:{port}:{spec.port}"]
        else:  # serves nothing: on the host's network, so loopback URLs (K_SINK) work
            argv += ["--network", "host"]
        for name, value in env.items():
            argv += ["-e", f"{name}={value}"]
        if container.get("workingDir"):
            argv += ["-w", str(container["workingDir"])]
        argv += limit_flags(container.get("resources"))
        if command:
            argv += ["--entrypoint", command[0]]
        argv.append(str(container.get("image") or ""))
        return argv + command[1:] + args

    def _run_exec(self, instance_id: str) -> ExecFunc:
        """Exec probes: ``exec`` in the running container."""

        async def run(argv: list[str], timeout: float) -> tuple[int, str]:
            try:
                done = await self.engine.exec(instance_id, argv, timeout)
            except CommandTimeout as err:
                return -1, f"timed out after {timeout:g}s {err.output}"
            return done.code, done.stdout + done.stderr

        return run


class _ContainerDriver:
    """Launches, probes and removes the container of one instance."""

    def __init__(self, engine: ContainerEngine, name: str, image: str, run_args: list[str],
                 policy: PullPolicy, prober: Prober, *,
                 on_cleanup: Callable[[], None]) -> None:
        self._engine = engine
        self._name = name
        self._image = image
        self._run_args = run_args
        self._policy = policy
        self._prober = prober
        self._on_cleanup = on_cleanup
        self._created = False

    async def launch(self) -> Workload:
        if self._created:
            done = await self._engine.start(self._name)
            if done.ok:
                return _Container(self._engine, self._name)
            await self._engine.remove(self._name)  # start it afresh below
            self._created = False
        await self._ensure_image()
        done = await self._engine.run(self._run_args)
        if done.ok:
            self._created = True
            return _Container(self._engine, self._name)
        await self._engine.remove(self._name)
        raise LaunchError(done.error())

    async def _ensure_image(self) -> None:
        if not self._image:
            raise LaunchError("the container has no image", REASON_ERR_IMAGE_PULL,
                              REASON_IMAGE_PULL_BACKOFF)
        if self._policy != "always" and await self._engine.image_present(self._image):
            return
        if self._policy == "never":
            raise LaunchError(f'Container image "{self._image}" is not present with pull '
                              f"policy of Never", REASON_ERR_IMAGE_NEVER_PULL)
        done = await self._engine.pull(self._image)
        if not done.ok:
            raise LaunchError(f'Failed to pull image "{self._image}": {done.error()}',
                              REASON_ERR_IMAGE_PULL, REASON_IMAGE_PULL_BACKOFF)

    async def check(self, probe: Probe, workload: Workload) -> ProbeResult:
        return await self._prober.check(probe)

    async def cleanup(self) -> None:
        try:
            await self._engine.remove(self._name)
        finally:
            self._on_cleanup()


class _Container:
    """One run of an instance's container."""

    def __init__(self, engine: ContainerEngine, name: str) -> None:
        self._engine = engine
        self._name = name

    async def wait(self) -> int:
        try:
            return await self._engine.wait(self._name)
        except (EngineError, ValueError, IndexError):  # removed behind our back
            return 137

    async def terminate(self, grace: float) -> int:
        await self._engine.stop(self._name, grace)
        return await self.wait()
