"""The bench's trend comparison (bench/trend.py): units and directions from figure names,
noise between two runs, and which changes are flagged."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import trend
from bench.report import Result, write_results
from bench.trend import HIGHER, INFO, LOWER, Figure


def _result(name: str, figures: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"name": name, "backend": "sqlite", "path": "grpc", "figures": figures, **extra}


@pytest.mark.parametrize(
    ("key", "unit", "direction"),
    [
        ("events_per_s", "1/s", HIGHER),
        ("starts_per_s", "1/s", HIGHER),
        ("p99_ms", "ms", LOWER),
        ("first_resumed_ms", "ms", LOWER),
        ("cpu_process_us_per_token", "us/token", LOWER),
        ("cpu_process_s", "s", LOWER),
        ("steps_redone_per_run_max", "steps", LOWER),
        ("offered_tokens_per_s", "count", INFO),  # the scenario's choice, not a result
        ("runs", "count", INFO),
        ("events_per_commit", "", INFO),
    ],
)
def test_a_figure_name_gives_its_unit_and_direction(key: str, unit: str, direction: str) -> None:
    assert trend.unit_and_direction(key) == (unit, direction)


def test_figures_are_named_by_scenario_backend_path_and_key_with_their_baseline() -> None:
    results = [
        _result(
            "replay",
            {"events_per_s": 5000.0, "ttfe_ms": float("nan")},
            baseline_name="raw_per_s",
            baseline=9e3,
        ),
        _result("replay", {"events_per_s": 4000.0}),
    ]
    figures = {f.name: f for f in trend.figures_of(results)}
    assert figures["replay/sqlite/grpc/events_per_s"] == Figure(
        "replay/sqlite/grpc/events_per_s", 5000.0, "1/s", HIGHER
    )
    assert figures["replay/sqlite/grpc/raw_per_s"].value == 9e3
    assert figures["replay/sqlite/grpc#2/events_per_s"].value == 4000.0  # a second result kept apart
    assert "replay/sqlite/grpc/ttfe_ms" not in figures  # NaN: no samples, nothing to compare


def test_noise_is_the_relative_difference_of_two_runs_of_directional_figures() -> None:
    first = [
        Figure("a", 100.0, "ms", LOWER),
        Figure("b", 50.0, "1/s", HIGHER),
        Figure("n", 5.0, "count", INFO),
    ]
    second = [
        Figure("a", 80.0, "ms", LOWER),
        Figure("b", 50.0, "1/s", HIGHER),
        Figure("n", 9.0, "count", INFO),
    ]
    assert trend.noise_between(first, second) == {"a": pytest.approx(0.25), "b": 0.0}


def test_either_run_compared_with_the_other_is_within_their_noise() -> None:
    first = [
        Figure("lat", 80.0, "ms", LOWER),
        Figure("rate", 900.0, "1/s", HIGHER),
        Figure("z", 0.0, "s", LOWER),
    ]
    second = [
        Figure("lat", 100.0, "ms", LOWER),
        Figure("rate", 1000.0, "1/s", HIGHER),
        Figure("z", 0.01, "s", LOWER),
    ]
    noise = trend.noise_between(first, second)
    assert noise["z"] == trend.NOISE_CAP  # 0 in one run: not comparable
    for current, baseline in ((first, second), (second, first)):
        assert not any(c.flagged for c in trend.compare(current, baseline, noise))


def test_only_a_change_for_the_worse_beyond_the_noise_is_flagged() -> None:
    baseline = [
        Figure("lat", 100.0, "ms", LOWER),
        Figure("rate", 1000.0, "1/s", HIGHER),
        Figure("faster", 100.0, "ms", LOWER),
        Figure("quiet", 100.0, "ms", LOWER),
        Figure("gone", 1.0, "ms", LOWER),
    ]
    current = [
        Figure("lat", 125.0, "ms", LOWER),  # 25 % worse, noise 30 %: not flagged
        Figure("rate", 700.0, "1/s", HIGHER),  # 30 % fewer, noise 10 %: flagged
        Figure("faster", 50.0, "ms", LOWER),  # better: never flagged
        Figure("quiet", 104.0, "ms", LOWER),  # noise 0, but under the floor
        Figure("new", 1.0, "ms", LOWER),  # nothing to compare with
    ]
    noise = {"lat": 0.3, "rate": 0.1, "faster": 0.0, "quiet": 0.0}
    changes = {c.name: c for c in trend.compare(current, baseline, noise)}
    assert set(changes) == {"lat", "rate", "faster", "quiet"}
    assert [name for name, c in changes.items() if c.flagged] == ["rate"]
    assert changes["rate"].worse_by == pytest.approx(0.3)
    assert changes["faster"].worse_by == pytest.approx(-0.5)
    assert changes["quiet"].threshold == trend.NOISE_FLOOR
    assert next(iter(changes)) == "rate"  # worst first


def test_a_figure_without_measured_noise_is_held_against_the_default() -> None:
    [change] = trend.compare([Figure("x", 120.0, "ms", LOWER)], [Figure("x", 100.0, "ms", LOWER)], {})
    assert change.threshold == trend.UNMEASURED_NOISE and not change.flagged
    [change] = trend.compare([Figure("x", 1.0, "ms", LOWER)], [Figure("x", 0.0, "ms", LOWER)], {})
    assert change.flagged and math.isinf(change.worse_by)


def test_the_results_file_lists_every_figure_with_unit_direction_and_commit(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    result = Result("start_rate", "sqlite", "grpc", "starts_per_s", {"starts_per_s": 300.0, "p99_ms": 9.0})
    write_results([result], path, {"commit": "abc123"})
    body = json.loads(path.read_text())
    assert body["figures"] == [
        {
            "name": "start_rate/sqlite/grpc/starts_per_s",
            "value": 300.0,
            "unit": "1/s",
            "direction": HIGHER,
            "commit": "abc123",
        },
        {
            "name": "start_rate/sqlite/grpc/p99_ms",
            "value": 9.0,
            "unit": "ms",
            "direction": LOWER,
            "commit": "abc123",
        },
    ]
    assert [f.name for f in trend.load_figures(path)] == [f["name"] for f in body["figures"]]


def test_the_committed_noise_file_holds_a_noise_per_directional_figure() -> None:
    body = json.loads(trend.NOISE_PATH.read_text())
    assert body["how"] and body["commit"]
    assert body["figures"] and all(0.0 <= value <= trend.NOISE_CAP for value in body["figures"].values())
