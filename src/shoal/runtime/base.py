"""The runtime interface: where instances of a Revision run, and what the caller sees of them.

The Revision reconciler asks a ``Runtime`` for instances of a revision (``start``), learns
their addresses and readiness (``list``, ``subscribe``), reads their logs and stops them.
``process`` runs a command on this machine, ``podman``/``docker`` run an OCI image;
``choose_runtime`` picks one for a revision's serving container.

Every instance gets Knative's runtime contract (``PORT``, ``K_SERVICE``,
``K_CONFIGURATION``, ``K_REVISION``, the container's ``env``) and is probed for readiness
before it is reported ``READY``. An instance whose program exits is ``FAILED`` with reason
``ExitCode<N>`` and is restarted with a crash-loop backoff, as a kubelet would.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


@dataclass(frozen=True)
class InstanceSpec:
    """What to run for one instance of a revision; built by the Revision reconciler."""

    revision: str  # "namespace/name" of the Revision
    namespace: str
    service: str  # K_SERVICE ("" when the revision has no Service)
    configuration: str  # K_CONFIGURATION
    container: dict[str, Any]  # the serving container as Knative JSON
    env: dict[str, str]  # extra env resolved by the caller (envFrom, valueFrom)
    port: int = 8080  # the container port (ports[0].containerPort)
    serves: bool = True  # False: serves nothing on PORT (a source); ready once it runs

    @property
    def revision_name(self) -> str:
        """The revision's name without its namespace: the value of ``K_REVISION``."""
        return self.revision.rpartition("/")[2]


class InstanceState(StrEnum):
    STARTING = "Starting"
    READY = "Ready"
    FAILED = "Failed"
    STOPPED = "Stopped"


# Reasons, CamelCase as Kubernetes and Knative report them.
REASON_STARTING = "Starting"
REASON_READY = "Ready"
REASON_STOPPED = "Stopped"
REASON_UNHEALTHY = "Unhealthy"  # a readiness or liveness probe failed
REASON_CANNOT_RUN = "ContainerCannotRun"  # the command could not be started at all
REASON_ERR_IMAGE_PULL = "ErrImagePull"
REASON_IMAGE_PULL_BACKOFF = "ImagePullBackOff"
REASON_ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"


def exit_reason(code: int) -> str:
    """Knative's reason for a container that terminated: ``ExitCode1``, ``ExitCode137``."""
    return f"ExitCode{code}"


@dataclass
class Instance:
    """A snapshot of one instance; runtimes hand out copies, never their own record."""

    id: str
    revision: str  # "namespace/name"
    runtime: str  # the runtime's name: "process", "podman", "docker"
    address: str  # "127.0.0.1:PORT", reachable from this machine
    state: InstanceState = InstanceState.STARTING
    exit_code: int | None = None
    reason: str = REASON_STARTING
    message: str = ""
    restarts: int = 0
    started_at: float = 0.0  # wall-clock seconds (time.time()) of the latest start

    @property
    def ready(self) -> bool:
        return self.state is InstanceState.READY


class Runtime(Protocol):
    """Runs instances of revisions; every method may be called from the event loop only."""

    name: str

    async def start(self, spec: InstanceSpec) -> Instance:
        """Start one instance; returns at once in ``STARTING``, probing goes on behind."""
        ...

    async def stop(self, instance_id: str, grace: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; the instance ends ``STOPPED``."""
        ...

    def list(self, revision: str | None = None) -> builtins.list[Instance]:
        """The instances not yet stopped, of one revision or of all."""
        ...

    def subscribe(self, callback: Callable[[Instance], None]) -> Callable[[], None]:
        """Call ``callback`` on every change of an instance; returns the unsubscriber."""
        ...

    def logs(self, instance_id: str, *, follow: bool = False,
             tail: int | None = None) -> AsyncIterator[str]:
        """The instance's output, line by line (without the newline); ``follow`` waits for
        more until the instance stops."""
        ...

    async def close(self) -> None:
        """Stop every instance this runtime started."""
        ...


PROCESS = "process"
PODMAN = "podman"
DOCKER = "docker"


def choose_runtime(container: dict[str, Any], image_runtime: str = PODMAN) -> str:
    """``process`` for a container with a command and no image, else ``image_runtime``."""
    if not container.get("image") and container.get("command"):
        return PROCESS
    return image_runtime


class UnknownInstance(KeyError):
    """``stop`` or ``logs`` named an instance that this runtime does not run."""
