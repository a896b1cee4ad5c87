"""Runtimes: where instances of a Revision run, behind one ``Runtime`` interface.

The Revision reconciler picks a runtime per revision with ``choose_runtime`` and asks it for
instances; the gateway sends traffic to the addresses of the ``READY`` ones. Bottom up
(each module's docstring says more):

    base        InstanceSpec, Instance, InstanceState, the Runtime protocol, choose_runtime
    clock       the Clock seam the supervisor reads time through
    backoff     CrashBackoff: 1 s doubling to 30 s, reset after 10 minutes of running
    contract    Knative's runtime contract: PORT, K_SERVICE, K_CONFIGURATION, K_REVISION, env
    probes      readiness/liveness probe JSON and one tcpSocket/httpGet/exec check
    command     run a command to completion, always reaped
    supervisor  Supervisor: one instance's loop (launch, probe, restart, stop)
    instances   InstanceTable: a runtime's supervisors and subscribers
    supervised  SupervisedRuntime: start, stop, list, subscribe, logs, close over a table
    logfile     rotating per-instance log files, read back by line
    ports       free loopback ports
    pidfiles    pid records and owner locks, to reap what a crashed runtime left
    resources   Kubernetes quantities → --cpus/--memory
    engine      the podman/docker command line
    process     ProcessRuntime: local processes
    container   ContainerRuntime: OCI containers through podman or docker
    fake        FakeRuntime: the fake beside the Runtime seam
"""

from shoal.runtime.base import (
    DOCKER,
    PODMAN,
    PROCESS,
    Instance,
    InstanceSpec,
    InstanceState,
    Runtime,
    UnknownInstance,
    choose_runtime,
)
from shoal.runtime.container import ContainerRuntime, available
from shoal.runtime.fake import FakeRuntime
from shoal.runtime.process import ProcessRuntime

__all__ = [
    "DOCKER", "PODMAN", "PROCESS", "ContainerRuntime", "FakeRuntime", "Instance",
    "InstanceSpec", "InstanceState", "ProcessRuntime", "Runtime", "UnknownInstance",
    "available", "choose_runtime",
]
