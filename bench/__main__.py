"""`python -m bench [--quick] [--backend sqlite|postgres] [--baseline FILE]`: runs every scenario on
each backend, prints a table and writes var/bench/results.json; with a baseline (an earlier
results file), flags the figures that got worse by more than their noise (bench/trend.py)."""

from __future__ import annotations

import os

# The recovery scenario forks replica processes while gRPC threads run; gRPC's fork
# handlers are for Python-level fork() and can crash the child. Before grpc is imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import argparse
import asyncio
import logging
import platform
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
from oa_gateway.config import GatewayConfig, build_descriptor_set, render_config
from oa_gateway.launcher import EnvoyProcess, find_envoy, start_envoy

from tests.support.postgres import PostgresServer
from tests.support.runtime import running_runtime

from . import scenarios, sync, trend
from .clients import Target
from .overload import overload
from .recovery import recovery
from .report import Result, peak_rss_mb, print_table, write_results

RESULTS_PATH = Path("var/bench/results.json")
COMPARISON_PATH = Path("var/bench/comparison.json")
# The service logs each request at INFO; at thousands of requests that is the bench's cost, not the service's.
# No admission limit: these scenarios measure what one process can carry (overload.py
# measures the limit itself).
SERVICE_ENV = {
    "RUNTIME_LOG_LEVEL": "WARNING",
    "RUNTIME_MAX_RUNNING_RUNS": "0",
    "RUNTIME_MAX_OPEN_STREAMS": "0",
}


def _start_envoy(grpc_port: int, work_dir: Path) -> tuple[EnvoyProcess, str]:
    descriptor = build_descriptor_set(work_dir / "runtime.pb")
    config = GatewayConfig(
        grpc_host="127.0.0.1", grpc_port=grpc_port, descriptor_path=descriptor, http_port=0, admin_port=0
    )
    config_path = render_config(config, work_dir / "envoy.yaml")
    envoy = start_envoy(config_path, work_dir=work_dir, envoy_binary=find_envoy())
    try:
        return envoy, f"http://127.0.0.1:{envoy.listener_port()}"
    except BaseException:
        envoy.stop()
        raise


@asynccontextmanager
async def running_target(backend: str, database_url: str, work_dir: Path) -> AsyncIterator[Target]:
    async with running_runtime(database_url, SERVICE_ENV) as runtime:
        # Off the loop: Envoy's first health check must reach the server this loop serves.
        envoy, base_url = await asyncio.to_thread(_start_envoy, runtime.port, work_dir)
        try:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(base_url=base_url, timeout=120.0, limits=limits) as http:
                yield Target(backend, runtime, http, envoy.process.pid)
        finally:
            await asyncio.to_thread(envoy.stop)


SCENARIOS = (
    "append",
    "rebuild",
    "sink",
    "ttff",
    "single_stream",
    "concurrent",
    "projection_lag",
    "replay",
    "start_rate",
    "recovery",
    "overload",
)
SERVICE_SCENARIOS = frozenset(
    {"ttff", "single_stream", "concurrent", "projection_lag", "replay", "start_rate"}
)


async def bench_backend(
    backend: str, database_url: str, sizes: scenarios.Sizes, work_dir: Path, only: frozenset[str]
) -> list[Result]:
    results: list[Result] = []

    def step(label: str) -> bool:
        if label not in only:
            return False
        print(f"[{backend}] {label} ...", flush=True)
        return True

    # Store-level work first, with nothing else running.
    if step("append"):
        results += await scenarios.append(backend, database_url, sizes)
    # Issue 15's store-level figures, each on a database of its own (bench/sync.py).
    if step("rebuild"):
        scratch = _scratch(backend, database_url, work_dir, "rebuild")
        results += await sync.rebuild(backend, scratch, sizes.rebuild_events)
    if step("sink"):
        scratch = _scratch(backend, database_url, work_dir, "sink")
        results += await sync.sink_throughput(backend, scratch, sizes.sink_documents)
    replay_run = ""
    if "replay" in only:
        print(f"[{backend}] preparing the replay run ...", flush=True)
        replay_run = await scenarios.prepare_replay_run(database_url, sizes.replay_events)
    if only & SERVICE_SCENARIOS:
        async with running_target(backend, database_url, work_dir) as target:
            scenario_calls: tuple[tuple[str, Callable[[], Awaitable[list[Result]]]], ...] = (
                ("ttff", partial(scenarios.ttff, target, sizes)),
                ("single_stream", partial(scenarios.single_stream, target, sizes)),
                ("concurrent", partial(scenarios.concurrent, target, sizes)),
                (
                    "projection_lag",
                    partial(sync.projection_lags, target, sizes.concurrent_runs, sizes.concurrent_seconds),
                ),
                ("replay", partial(scenarios.replay, target, replay_run)),
                ("start_rate", partial(scenarios.start_rate, target, sizes)),
            )
            for label, scenario in scenario_calls:
                if step(label):
                    results += await scenario()
    if step("recovery"):
        results += await recovery(backend, database_url, work_dir, sizes.recovery_runs, sizes.recovery_rounds)
    if step("overload"):
        results += await overload(
            backend, database_url, work_dir, sizes.overload_capacity, sizes.concurrent_seconds
        )
    return results


def _scratch(backend: str, database_url: str, work_dir: Path, name: str) -> str:
    """A fresh database next to the benchmark's (same PostgreSQL server), for a store-level scenario."""
    if backend == "sqlite":
        return f"sqlite:///{work_dir / f'{name}.db'}"
    dbname = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"'.encode())
    return urlsplit(database_url)._replace(path=f"/{dbname}").geturl()


def current_commit() -> str:
    """The commit measured, `+dirty` when the work tree has changes (empty outside git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def compare_with(baseline: Path) -> None:
    changes = trend.compare(
        trend.load_figures(RESULTS_PATH), trend.load_figures(baseline), trend.load_noise()
    )
    trend.write_comparison(changes, baseline, COMPARISON_PATH)
    print(f"\nagainst {baseline} (noise: {trend.NOISE_PATH}; all changes in {COMPARISON_PATH}):")
    print(trend.format_changes(changes))


async def main(
    quick: bool,
    backends: list[str],
    only: frozenset[str] = frozenset(SCENARIOS),
    baseline: Path | None = None,
) -> int:
    sizes = scenarios.Sizes.pick(quick)
    results: list[Result] = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="oa-bench-") as tmp:
        work = Path(tmp)
        if "sqlite" in backends:
            (work / "sqlite").mkdir()
            results += await bench_backend(
                "sqlite", f"sqlite:///{work / 'bench.db'}", sizes, work / "sqlite", only
            )
        if "postgres" in backends:
            try:
                server = PostgresServer()
            except BaseException as exc:  # pytest's Skipped when no PostgreSQL here (a BaseException)
                print(f"[postgres] skipped: {exc}", flush=True)
            else:
                with server:
                    url = server.create_database(f"bench_{uuid.uuid4().hex[:8]}")
                    (work / "postgres").mkdir()
                    results += await bench_backend("postgres", url, sizes, work / "postgres", only)
    meta = {
        "quick": quick,
        "sizes": sizes.__dict__,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "total_wall_s": time.perf_counter() - began,
        "peak_rss_mb": peak_rss_mb(),
        "cpu_process_note": "service and bench client share one process: cpu_process_* is both",
        "commit": current_commit(),
    }
    write_results(results, RESULTS_PATH, meta)
    print()
    print_table(results)
    print(f"\n{len(results)} results in {meta['total_wall_s']:.0f} s; written to {RESULTS_PATH}")
    if baseline is not None:
        compare_with(baseline)
    return 0


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under 2 minutes)")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], action="append", help="default: both")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="default: every scenario")
    parser.add_argument("--baseline", type=Path, help="an earlier results file to compare with")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    only = frozenset(args.only or SCENARIOS)
    return asyncio.run(main(args.quick, args.backend or ["sqlite", "postgres"], only, args.baseline))


if __name__ == "__main__":
    raise SystemExit(cli())
