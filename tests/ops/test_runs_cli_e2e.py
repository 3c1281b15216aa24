"""`oa-runtime runs …` end to end against the real service: start, tail, list, show, cancel, and
the errors a developer meets (unknown run, wrong secret), each call with a fresh token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from oa_runtime.cli import main

from tests.support.runtime import running_runtime


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_the_operator_cli_drives_runs_on_a_real_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "cli-e2e-secret-0123456789"
    monkeypatch.setenv("RUNTIME_SIGNING_SECRET", secret)
    monkeypatch.delenv("RUNTIME_SIGNING_KEYS", raising=False)
    async with running_runtime(f"sqlite:///{tmp_path / 'rt.db'}", secret=secret) as rt:
        runs = ("runs", "--address", rt.address)
        await _start_tail_and_show_a_run(capsys, runs)
        await _cancel_a_run_and_list_both(capsys, runs)
        await _errors_are_clear_and_keep_the_secret(capsys, monkeypatch, runs, secret)


async def _start_tail_and_show_a_run(capsys: pytest.CaptureFixture[str], runs: tuple[str, ...]) -> None:
    prompt = '/say hello operator\n/tool math {"expression": "6*7"}\n/say done'
    code, out, err = await _cli(
        capsys,
        *runs,
        "start",
        "--run-id",
        "cli-1",
        "--thread-id",
        "t-cli",
        "--user-id",
        "77",
        "--prompt",
        prompt,
        "--tail",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "cli-1: accepted"
    kinds = [line.split()[1] for line in lines[1:]]
    assert kinds[0] == "run.accepted" and kinds[-1] == "run.finished"
    assert "tool.result" in kinds
    assert [int(line.split()[0]) for line in lines[1:]] == list(range(1, len(lines)))
    assert "42" in out  # the tool's output is shown
    assert "· step 2 ·" in err  # the progress line (plain, stderr is not a terminal)

    # Tail resumes from a cursor: only later events.
    code, out, _ = await _cli(capsys, *runs, "tail", "cli-1", "--after-seq", "5", "--no-progress")
    assert code == 0 and int(out.split()[0]) == 6

    code, out, _ = await _cli(capsys, *runs, "show", "cli-1")
    shown = json.loads(out)
    assert (shown["runId"], shown["state"], shown["userId"]) == ("cli-1", "RUN_STATE_SUCCEEDED", "77")


async def _cancel_a_run_and_list_both(capsys: pytest.CaptureFixture[str], runs: tuple[str, ...]) -> None:
    slow = ["--run-id", "cli-2", "--thread-id", "t-cli", "--user-id", "77"]
    slow += ["--prompt", "/sleep 30000\n/say late"]
    code, out, err = await _cli(capsys, *runs, "start", *slow)
    assert (code, out) == (0, "cli-2: accepted\n"), err
    code, out, _ = await _cli(capsys, *runs, "cancel", "cli-2")
    assert code == 0 and out.startswith("cli-2: cancel recorded")
    code, out, err = await _cli(capsys, *runs, "tail", "cli-2", "--no-progress")
    assert code == 0 and out.splitlines()[-1].split()[1] == "run.finished" and "CANCELED" in out

    code, out, _ = await _cli(capsys, *runs, "list", "--thread-id", "t-cli")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].split()[:3] == ["RUN", "THREAD", "STATE"]
    listed = [(r.split()[0], r.split()[2]) for r in rows[1:]]
    assert listed == [("cli-2", "canceled"), ("cli-1", "succeeded")]
    filters = ("--thread-id", "t-cli", "--state", "succeeded", "--json")
    code, out, _ = await _cli(capsys, *runs, "list", *filters)
    assert [r["runId"] for r in json.loads(out)] == ["cli-1"]


async def _errors_are_clear_and_keep_the_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, runs: tuple[str, ...], secret: str
) -> None:
    """A clear message with the ErrorInfo reason, and an exit code per status."""
    code, out, err = await _cli(capsys, *runs, "show", "nope")
    assert code == 4 and out == ""
    assert err.startswith("oa-runtime runs show: NOT_FOUND RUN_NOT_FOUND")
    monkeypatch.setenv("RUNTIME_SIGNING_SECRET", "not-the-secret")
    code, _, err = await _cli(capsys, *runs, "show", "cli-1")
    assert code == 3 and "UNAUTHENTICATED INVALID_TOKEN" in err
    assert "not-the-secret" not in err and secret not in err
