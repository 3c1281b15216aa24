"""`python -m bench.profile_summary PROFILE [--cpu-us N]`: a py-spy profile (collapsed stacks, as
`bench.service_cpu --profile` writes) summed into the service's stages. Each sample goes to the
innermost frame that names a stage, so a stream handler's work is the stream's even though the
auth interceptor wraps it; samples in no stage are the event loop and gRPC's C core. With
`--cpu-us` (the service CPU per unit measured in the same run) each share is also given in µs.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# (stage, function names that mark it), innermost match wins.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("store: append (plan + SQL)", ("append_batch", "append_one", "create_run")),
    ("store: read-model + thread projections", ("project",)),
    ("store: other reads/writes", ("write_group", "read_group", "run_sync")),
    ("model step (provider, coalescing)", ("ModelStep.run",)),
    ("run loop (appends, state folds)", ("RunExecutor._execute",)),
    ("group-commit writer + broker", ("EventWriter.run",)),
    ("projector task", ("Projector.run",)),
    ("stream handlers (encode, send)", ("RunService.StreamRunEvents", "RunService.StreamRunSse")),
    ("StartRun handler", ("RunService.StartRun",)),
    ("auth (token, nonce, owner read)", ("ServiceTokenInterceptor.authorize",)),
    ("SQLite thread hand-off (run_in_executor)", ("SqliteWorker._submit", "Combiner._drain")),
    ("metrics + auth wrappers", ("_unary.<locals>.call", "_streaming.<locals>.iterate")),
)
REST = "event loop and gRPC core (Cython/C: calls, messages)"


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        name = frame.split(" (", 1)[0]
        for stage, marks in STAGES:
            if name in marks:
                return stage
    return REST


def summarize(path: Path) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        counts[stage_of(stack.split(";"))] += int(count)
        total += int(count)
    return counts, total


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_summary", description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--cpu-us", type=float, help="service CPU per unit, to split into stages")
    args = parser.parse_args()
    counts, total = summarize(args.profile)
    print(f"{total} samples")
    for stage, count in counts.most_common():
        share = count / max(total, 1)
        per_unit = f"  {share * args.cpu_us:7.1f} µs" if args.cpu_us else ""
        print(f"{share * 100:5.1f} %{per_unit}  {stage}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
