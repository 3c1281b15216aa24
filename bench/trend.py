"""Watching the trend (issue 17 goal 7): every figure of a results file with its unit and
direction, the noise between two runs of one commit, and a comparison with an earlier
results file that flags each figure that got worse by more than that noise.

    python -m bench.trend compare var/bench/results.json old-results.json
    python -m bench.trend noise run1.json run2.json > bench/noise.json

The functions above `main` are pure (no I/O), so tests/test_bench_trend.py checks them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HIGHER = "higher"  # is better
LOWER = "lower"
INFO = ""  # a size or a count the scenario chose: never flagged

# Sizes and counts, not performance (their names would otherwise match a unit rule).
_INFO_KEYS = frozenset(
    {"runs", "rounds", "events", "tokens", "clients", "appenders", "deltas", "offered_tokens_per_s", "ratio"}
)
# A figure worse by less than this is never flagged, whatever the measured noise
# (two runs can agree by chance on a figure that is noisy in truth).
NOISE_FLOOR = 0.05
# For a figure missing from the noise file (a new scenario): flag only large changes.
UNMEASURED_NOISE = 0.25
# Noise this large (a figure that was 0 in one run, e.g. Envoy's CPU on a gRPC path, counted
# in 10 ms ticks) says the figure is not comparable: it is never flagged.
NOISE_CAP = 10.0

NOISE_PATH = Path(__file__).with_name("noise.json")


@dataclass(frozen=True)
class Figure:
    name: str  # scenario/backend/path/key, e.g. "replay/sqlite/grpc/events_per_s"
    value: float
    unit: str
    direction: str  # HIGHER, LOWER or INFO


@dataclass(frozen=True)
class Change:
    name: str
    unit: str
    direction: str
    before: float
    after: float
    worse_by: float  # relative: +0.2 = 20 % worse, negative = better
    threshold: float  # the noise it is held against
    flagged: bool


def unit_and_direction(key: str) -> tuple[str, str]:
    """What a figure's key says about it: `*_ms` is a latency (lower is better), `*_per_s` a
    rate (higher), `cpu_*_us_per_*` a cost per unit of work (lower), `*_s` seconds (lower)."""
    if key in _INFO_KEYS:
        return "count", INFO
    if key.startswith("cpu_") and "_us_per_" in key:
        return "us/" + key.rsplit("_per_", 1)[1], LOWER
    if key.endswith("_per_s"):
        return "1/s", HIGHER
    if key.endswith("_ms"):
        return "ms", LOWER
    if key.endswith("_mb"):
        return "MiB", LOWER
    if key.endswith("_s"):
        return "s", LOWER
    if key.startswith("steps_redone"):
        return "steps", LOWER
    return "", INFO


def figures_of(results: Iterable[Mapping[str, Any]]) -> list[Figure]:
    """Every figure of the `results` list of a results file, the baseline of each result too
    (under its own name); NaN (no samples) is left out."""
    out: list[Figure] = []
    seen: dict[str, int] = {}
    for result in results:
        values: dict[str, float] = dict(result["figures"])
        if result.get("baseline") is not None and result.get("baseline_name"):
            values[f"{result['baseline_name']}"] = float(result["baseline"])
        prefix = f"{result['name']}/{result['backend']}/{result['path']}"
        count = seen[prefix] = seen.get(prefix, 0) + 1
        if count > 1:  # the same scenario twice in one file: keep both apart
            prefix += f"#{count}"
        for key, value in values.items():
            if isinstance(value, int | float) and not math.isnan(value):
                unit, direction = unit_and_direction(key)
                out.append(Figure(f"{prefix}/{key}", float(value), unit, direction))
    return out


def _relative_worse(before: float, after: float, direction: str) -> float:
    if before == 0:
        return 0.0 if after == before else math.inf
    change = (after - before) / abs(before)
    return change if direction == LOWER else -change


def noise_between(first: Iterable[Figure], second: Iterable[Figure]) -> dict[str, float]:
    """Per figure, the relative difference of two runs of the same commit, |a - b| / min(|a|, |b|)
    (the larger of the two relative changes, so comparing either run with the other flags
    nothing), at most NOISE_CAP."""
    other = {f.name: f.value for f in second}
    noise: dict[str, float] = {}
    for figure in first:
        if figure.direction == INFO or figure.name not in other:
            continue
        a, b = figure.value, other[figure.name]
        scale = min(abs(a), abs(b))
        noise[figure.name] = min(abs(a - b) / scale, NOISE_CAP) if scale else (NOISE_CAP if a != b else 0.0)
    return noise


def compare(
    current: Iterable[Figure], baseline: Iterable[Figure], noise: Mapping[str, float]
) -> list[Change]:
    """Each directional figure present in both, worst first. A figure is flagged when it got
    worse by more than its noise (at least NOISE_FLOOR; UNMEASURED_NOISE when not measured;
    never at NOISE_CAP)."""
    before = {f.name: f.value for f in baseline}
    changes = []
    for figure in current:
        if figure.direction == INFO or figure.name not in before:
            continue
        worse_by = _relative_worse(before[figure.name], figure.value, figure.direction)
        threshold = max(noise.get(figure.name, UNMEASURED_NOISE), NOISE_FLOOR)
        changes.append(
            Change(
                figure.name,
                figure.unit,
                figure.direction,
                before[figure.name],
                figure.value,
                worse_by,
                threshold,
                threshold < NOISE_CAP and worse_by > threshold,
            )
        )
    return sorted(changes, key=lambda c: -c.worse_by)


def format_changes(changes: list[Change]) -> str:
    flagged = [c for c in changes if c.flagged]
    lines = [f"{len(flagged)} of {len(changes)} figures worse than their noise"]
    for c in flagged:
        lines.append(
            f"  WORSE {c.name}: {c.before:,.4g} -> {c.after:,.4g} {c.unit}"
            f" ({c.worse_by:+.0%} worse; noise {c.threshold:.0%}; {c.direction} is better)"
        )
    return "\n".join(lines)


# ----- files -----


def load_figures(path: Path) -> list[Figure]:
    return figures_of(json.loads(path.read_text())["results"])


def load_noise(path: Path = NOISE_PATH) -> dict[str, float]:
    if not path.exists():
        return {}
    figures: dict[str, float] = json.loads(path.read_text())["figures"]
    return figures


def write_comparison(changes: list[Change], baseline: Path, out: Path) -> None:
    body = {"baseline": str(baseline), "changes": [asdict(c) for c in changes]}
    out.write_text(json.dumps(body, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.trend", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmp_ = sub.add_parser("compare", help="flag figures of CURRENT worse than in BASELINE")
    cmp_.add_argument("current", type=Path)
    cmp_.add_argument("baseline", type=Path)
    cmp_.add_argument("--noise", type=Path, default=NOISE_PATH)
    noise = sub.add_parser("noise", help="per-figure noise between two results files of one commit")
    noise.add_argument("first", type=Path)
    noise.add_argument("second", type=Path)
    noise.add_argument("--commit", default="", help="when the results files do not name it")
    args = parser.parse_args(argv)
    if args.command == "compare":
        changes = compare(load_figures(args.current), load_figures(args.baseline), load_noise(args.noise))
        print(format_changes(changes))
        return 0
    first, second = json.loads(args.first.read_text()), json.loads(args.second.read_text())
    body = {
        "how": (
            "python -m bench.trend noise: two `make bench QUICK=1` runs of one commit, back to back on"
            " this machine; per figure |a - b| / min(|a|, |b|), capped at NOISE_CAP (not comparable)"
        ),
        "commit": args.commit or first["meta"].get("commit", ""),
        "runs": [first["meta"], second["meta"]],
        "figures": noise_between(figures_of(first["results"]), figures_of(second["results"])),
    }
    json.dump(body, sys.stdout, indent=2, sort_keys=False)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
