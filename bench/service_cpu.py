"""`python -m bench.service_cpu`: the service's own CPU per unit of work, with the service in a
process of its own (`oa-runtime serve`) and the client here, so the client's decoding is not
counted; optionally a py-spy profile of the service while the work runs.

    .venv/bin/python -m bench.service_cpu starts --calls 400             # CPU per StartRun + its run
    .venv/bin/python -m bench.service_cpu starts --prompt "/sleep 600000"  # StartRun (and run start) alone
    .venv/bin/python -m bench.service_cpu tokens --runs 100 --seconds 4   # CPU per delivered token
    .venv/bin/python -m bench.service_cpu ttff --calls 60                 # sequential start + stream
    .venv/bin/python -m bench.service_cpu starts --profile var/bench/starts.txt   # + py-spy (collapsed)
    .venv/bin/python -m bench.profile_summary var/bench/starts.txt                # where the samples are

The service CPU is utime+stime of its process from /proc between the first call and the moment
every started run has finished (so a start's figure includes executing its run), which a
machine shared with other work disturbs far less than wall-clock rates. `--backend postgres`
uses a throwaway cluster (tests/support/postgres.py). `--env K=V` passes settings to the
service (e.g. RUNTIME_READ_MODELS=0) for A/B runs; `--service-python OTHER/.venv/bin/python`
runs another checkout's service under the same client (interleave the two for a same-run A/B).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

from openagents.runtime.v1 import run_service_pb2

from tests.support.postgres import PostgresServer
from tests.support.replica import Replica

from .clients import StreamTrace
from .report import _proc_cpu_s, percentile
from .scenarios import schedule_latencies

RATE = 50.0  # tokens/s per run in `tokens`
NATIVE = ["--native"] if os.environ.get("PYSPY_NATIVE") else []  # C frames too (gRPC, sqlite3)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def _start(replica: Replica, run_id: str, prompt: str) -> None:
    thread_id = f"th-{run_id}"
    await replica.stub.StartRun(
        run_service_pb2.StartRunRequest(run_id=run_id, thread_id=thread_id, prompt=prompt),
        metadata=replica.md(run_id=run_id, thread_id=thread_id),
        timeout=60,
    )


async def _stream(replica: Replica, run_id: str) -> StreamTrace:
    """What the client saw: per delta its arrival (perf_counter) and its token count."""
    call = replica.stub.StreamRunEvents(
        run_service_pb2.StreamRunEventsRequest(run_id=run_id), metadata=replica.md(run_id=run_id), timeout=120
    )
    trace = StreamTrace()
    async for message in call:
        if message.event.type == "message.delta":
            now = time.perf_counter()
            count = message.event.message_delta.delta.count("t")
            trace.first_token = trace.first_token or now
            trace.tokens += count
            trace.deltas.append((now, count, None))
    return trace


async def starts(replica: Replica, calls: int, clients: int = 16, prompt: str = "/say x") -> dict[str, float]:
    """StartRun from `clients` callers; the CPU counts until every run finished, except for
    `/sleep` runs (StartRun and the run's start alone: they are left sleeping)."""
    remaining = calls
    run_ids: list[str] = []

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            run_ids.append(_new_id("start"))
            await _start(replica, run_ids[-1], prompt)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - began
    if prompt.startswith("/sleep"):
        await asyncio.sleep(0.5)  # the last runs reach their sleep
    else:
        for run_id in run_ids:  # every run finished (its stream ends with run.finished)
            await _stream(replica, run_id)
    return {"starts_per_s": calls / wall, "calls": calls, "units": calls}


async def ttff(replica: Replica, calls: int) -> dict[str, float]:
    firsts = []
    for _ in range(calls):
        run_id = _new_id("ttff")
        began = time.perf_counter()
        await _start(replica, run_id, "/tokens 5")
        trace = await _stream(replica, run_id)
        assert trace.first_token is not None, f"{run_id}: no token"
        firsts.append(trace.first_token - began)
    return {
        "first_token_p50_ms": percentile(firsts, 50) * 1e3,
        "first_token_p99_ms": percentile(firsts, 99) * 1e3,
        "units": calls,
    }


async def tokens(replica: Replica, runs: int, seconds: float) -> dict[str, float]:
    each = int(RATE * seconds)

    async def one() -> StreamTrace:
        run_id = _new_id("conc")
        await _start(replica, run_id, f"/tokens {each} {RATE:g}")
        return await _stream(replica, run_id)

    began = time.perf_counter()
    traces = await asyncio.gather(*(one() for _ in range(runs)))
    wall = time.perf_counter() - began
    delivered = sum(t.tokens for t in traces)
    lags = [lag for t in traces for lag in schedule_latencies(t, RATE)]  # as bench/scenarios.py
    return {
        "delivered_over_offered": delivered / (wall * RATE * runs),
        "lag_p50_ms": percentile(lags, 50) * 1e3,
        "lag_p99_ms": percentile(lags, 99) * 1e3,
        "deltas_per_token": sum(len(t.deltas) for t in traces) / max(delivered, 1),
        "units": delivered,
    }


def _profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    rate = os.environ.get("PYSPY_RATE", "200")
    # --gil: only the thread holding the GIL is sampled (CPU in Python, not threads waiting on it).
    args = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", rate, "--gil", *NATIVE]
    args += ["-o", str(out)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def measure(
    replica: Replica, work: Callable[[], Awaitable[dict[str, float]]], profile: Path | None
) -> dict[str, float]:
    assert replica.process is not None
    pid = replica.process.pid
    spy = _profiler(pid, profile) if profile else None
    if spy:
        await asyncio.sleep(1.0)  # py-spy attaches
    cpu0, wall0 = _proc_cpu_s(pid), time.perf_counter()
    figures = await work()
    cpu = _proc_cpu_s(pid) - cpu0
    wall = time.perf_counter() - wall0
    if spy:
        spy.send_signal(2)  # SIGINT: py-spy writes the profile and exits
        spy.wait(30)
    units = figures.pop("units")
    return {**figures, "service_cpu_s": cpu, "wall_s": wall, "service_cpu_us_per_unit": cpu / units * 1e6}


def _database(backend: str, stack: ExitStack, work: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{work / 'bench.db'}"
    server = stack.enter_context(PostgresServer())
    return server.create_database(f"cpu_{uuid.uuid4().hex[:8]}")


async def main(args: argparse.Namespace) -> dict[str, float]:
    env = {"RUNTIME_LOG_LEVEL": "WARNING", **dict(kv.split("=", 1) for kv in args.env)}
    with tempfile.TemporaryDirectory(prefix="oa-cpu-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        database = _database(args.backend, stack, work)
        replica = Replica("svc", database, work, env=env, python=args.service_python or sys.executable)
        replica.start()
        try:
            await replica.ready(60)
            await starts(replica, 20, clients=4)  # warm up (imports, connections, caches)
            scenario: Callable[[], Awaitable[dict[str, float]]] = {
                "starts": lambda: starts(replica, args.calls, prompt=args.prompt),
                "ttff": lambda: ttff(replica, args.calls),
                "tokens": lambda: tokens(replica, args.runs, args.seconds),
            }[args.scenario]
            return await measure(replica, scenario, args.profile)
        finally:
            await replica.close()


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.service_cpu", description=__doc__)
    parser.add_argument("scenario", choices=["starts", "ttff", "tokens"])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument(
        "--prompt", default="/say x", help="starts: the runs' prompt ('/sleep 600000': StartRun alone)"
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of the service to this file")
    parser.add_argument("--env", action="append", default=[], help="K=V for the service")
    parser.add_argument(
        "--service-python", help="the interpreter that runs the service (another checkout's .venv: A/B)"
    )
    args = parser.parse_args()
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    figures = asyncio.run(main(args))
    print(json.dumps({"scenario": args.scenario, "backend": args.backend, **figures}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
