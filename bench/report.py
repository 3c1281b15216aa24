"""Figures, CPU meters, the results file and the printed table."""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .trend import figures_of

_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _proc_cpu_s(pid: int) -> float:
    """utime+stime of another process, from /proc (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # fields 14 and 15 of proc(5)


class CpuMeter:
    """CPU seconds spent between `__enter__` and `stop()`: this process (service and bench client
    share it: the service runs in-process), and Envoy when a pid is given."""

    def __init__(self, envoy_pid: int | None = None) -> None:
        self.envoy_pid = envoy_pid
        self.wall_s = self.process_s = self.envoy_s = 0.0

    def __enter__(self) -> CpuMeter:
        self._wall = time.perf_counter()
        self._proc = time.process_time()
        self._envoy = _proc_cpu_s(self.envoy_pid) if self.envoy_pid else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.process_s = time.process_time() - self._proc
        if self.envoy_pid:
            self.envoy_s = _proc_cpu_s(self.envoy_pid) - self._envoy

    def figures(self, units: float = 0.0, unit: str = "") -> dict[str, float]:
        out = {"wall_s": self.wall_s, "cpu_process_s": self.process_s}
        if self.envoy_pid:
            out["cpu_envoy_s"] = self.envoy_s
        if units and unit:
            out[f"cpu_process_us_per_{unit}"] = self.process_s / units * 1e6
            if self.envoy_pid:
                out[f"cpu_envoy_us_per_{unit}"] = self.envoy_s / units * 1e6
        return out


@dataclass
class Result:
    name: str
    backend: str
    path: str  # "grpc", "envoy_sse", "store" or "baseline"
    headline: str  # the key of the main figure in `figures`
    figures: dict[str, float]
    baseline_name: str = ""
    baseline: float | None = None
    ratio: float | None = None  # figure / baseline
    notes: list[str] = field(default_factory=list)

    def against(self, baseline_name: str, baseline: float) -> Result:
        self.baseline_name, self.baseline = baseline_name, baseline
        self.ratio = self.figures[self.headline] / baseline if baseline else None
        return self


def write_results(results: list[Result], path: Path, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [asdict(r) for r in results]
    # The flat list the trend compares (bench/trend.py): name, value, unit, direction, commit.
    figures = [{**asdict(f), "commit": meta.get("commit", "")} for f in figures_of(rows)]
    body = {"meta": meta, "results": rows, "figures": figures}
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _extras(r: Result) -> str:
    keys = [k for k in r.figures if k != r.headline and (k.startswith(("p50", "p99", "cpu_")) or "ttfe" in k)]
    return "  ".join(f"{k}={_fmt(r.figures[k])}" for k in keys)


def print_table(results: list[Result]) -> None:
    rows = [
        (
            r.name,
            r.backend,
            r.path,
            f"{r.headline}={_fmt(r.figures[r.headline])}",
            f"{r.baseline_name}={_fmt(r.baseline)}" if r.baseline is not None else "-",
            _fmt(r.ratio),
            _extras(r),
        )
        for r in results
    ]
    header = ("scenario", "backend", "path", "figure", "baseline", "ratio", "details")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(6)]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row[:6], widths, strict=False)) + "  " + row[6])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
