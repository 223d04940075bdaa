r"""Start one training run as several JAX processes (``jax.distributed``), on one or many machines.

Each process runs ``python -m lgl_spl.main ARGS`` with ``JAX_COORDINATOR_ADDRESS``,
``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` set; ``lgl_spl.parallel`` reads them and
joins the run. Everything after ``--`` is passed to ``lgl_spl.main`` unchanged.

One machine, 2 processes (the coordinator gets a free local port)::

    python launch/multiprocess.py --num_processes 2 -- \
        --config configs/digits_random.py --workdir runs/digits_2proc

Two machines, one process each: run on every machine with the address of the machine
that runs process 0 (it hosts the coordinator) and that machine's own first id::

    # on host0
    python launch/multiprocess.py --coordinator host0:12355 --num_processes 2 \
        --local_processes 1 --first_process_id 0 -- --config CONFIG.py --workdir DIR
    # on host1: the same with --first_process_id 1

``DIR`` must be one shared directory (e.g. NFS) seen by every machine: all processes
write the orbax checkpoint together, process 0 writes the metrics.

On GPUs, run one process per machine (it uses all the machine's GPUs). Several
processes on one CPU machine are for testing: ``--cpu_devices_per_process N`` gives
each N forced host devices; CPU collectives use gloo.

SIGTERM to the launcher is forwarded to every process: they checkpoint and stop at a
step they agree on (re-run the same command to resume). Ctrl-C reaches them directly.
If one process fails the others are stopped, so a run never hangs in a collective.
Exit code: the first failing process's, 124 on ``--timeout``, else 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

# How long processes get to exit after SIGTERM before they are killed.
_GRACE_SECONDS = 30.0
# How long the other processes get to finish by themselves once one has failed.
_REPORT_SECONDS = 3.0


def free_port() -> int:
    """A TCP port free right now on this machine (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def process_env(
    base: dict, *, coordinator: str, num_processes: int, process_id: int, cpu_devices: int
) -> dict:
    env = dict(base)
    env.update(
        JAX_COORDINATOR_ADDRESS=coordinator,
        JAX_NUM_PROCESSES=str(num_processes),
        JAX_PROCESS_ID=str(process_id),
    )
    env.setdefault("JAX_CPU_COLLECTIVES_IMPLEMENTATION", "gloo")
    if cpu_devices:
        flags = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
        env["XLA_FLAGS"] = " ".join(
            [*flags, f"--xla_force_host_platform_device_count={cpu_devices}"]
        )
    return env


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        usage="%(prog)s [options] -- --config CONFIG.py --workdir DIR [--config.KEY=VALUE ...]",
    )
    parser.add_argument("--num_processes", type=int, required=True, help="processes in all")
    parser.add_argument(
        "--local_processes", type=int, default=0, help="processes on this machine (0 = all)"
    )
    parser.add_argument("--first_process_id", type=int, default=0, help="id of the first here")
    parser.add_argument(
        "--coordinator", default="", help="HOST:PORT of process 0 (default: localhost, free port)"
    )
    parser.add_argument(
        "--cpu_devices_per_process", type=int, default=0, help="force N CPU devices (testing)"
    )
    parser.add_argument("--timeout", type=float, default=0, help="stop after S seconds (0 = no)")
    if "--" in argv:
        cut = argv.index("--")
        ours, main_args = argv[:cut], argv[cut + 1 :]
    else:
        ours, main_args = argv, []
    args = parser.parse_args(ours)
    local = args.local_processes or args.num_processes
    if not main_args:
        parser.error("pass lgl_spl.main's arguments after '--'")
    if args.first_process_id + local > args.num_processes:
        parser.error("--first_process_id + --local_processes exceeds --num_processes")
    if local < args.num_processes and not args.coordinator:
        parser.error("--coordinator HOST:PORT is required when processes span machines")
    args.local_processes = local
    return args, main_args


def _wait_all(procs: list[subprocess.Popen], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.05)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_SECONDS
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def launch(argv: list[str]) -> int:
    args, main_args = _parse(argv)
    coordinator = args.coordinator or f"localhost:{free_port()}"
    procs = []
    for i in range(args.local_processes):
        env = process_env(
            os.environ,
            coordinator=coordinator,
            num_processes=args.num_processes,
            process_id=args.first_process_id + i,
            cpu_devices=args.cpu_devices_per_process,
        )
        procs.append(subprocess.Popen([sys.executable, "-m", "lgl_spl.main", *main_args], env=env))

    def forward(signum, _frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    # Ctrl-C already reaches every local process (same process group); forwarding it
    # would interrupt them twice.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                # A process that died leaves the others waiting in a collective; but give
                # them a moment first: a bad config fails every process, and each should
                # get to say so.
                _wait_all(procs, _REPORT_SECONDS)
                _stop(procs)
                return failed[0]
            if all(c == 0 for c in codes):
                return 0
            if deadline is not None and time.monotonic() > deadline:
                print(f"multiprocess: timed out after {args.timeout:g} s", file=sys.stderr)
                _stop(procs)
                return 124
            time.sleep(0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


if __name__ == "__main__":
    sys.exit(launch(sys.argv[1:]))
