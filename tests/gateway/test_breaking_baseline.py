"""`make breaking` compares the contract with the committed baseline (proto/released.binpb),
not with a branch (issue 11, reproduction 15: in CI the clone's main *is* the submission, so
comparing with main could never fail). Proved on a fresh clone of the committed tree: an
unchanged copy passes, a renumbered field fails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUF = REPO / ".tools" / "node_modules" / ".bin" / "buf"


def _buf_or_skip() -> Path:
    if BUF.exists():
        return BUF
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("buf is missing: make setup installs it")
    pytest.skip("buf is missing (make setup)")


def _fresh_clone(tmp: Path) -> Path:
    """A clone of the committed HEAD with no other branch (what CI checks out)."""
    clone = tmp / "clone"
    subprocess.run(
        [
            "git",
            "clone",
            "--quiet",
            "--no-local",
            "--single-branch",
            "--depth",
            "1",
            f"file://{REPO}",
            str(clone),
        ],
        check=True,
        capture_output=True,
    )
    return clone


def _breaking(clone: Path) -> subprocess.CompletedProcess[str]:
    # The Makefile's command, run directly (make's setup prerequisite would build a venv).
    return subprocess.run(
        [str(_buf_or_skip()), "breaking", "proto", "--against", "proto/released.binpb"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_the_committed_contract_matches_its_baseline_and_a_renumbered_field_fails(tmp_path: Path) -> None:
    _buf_or_skip()
    clone = _fresh_clone(tmp_path)
    assert (clone / "proto" / "released.binpb").exists(), "the baseline is committed"
    passed = _breaking(clone)
    assert passed.returncode == 0, passed.stdout + passed.stderr

    run_proto = clone / "proto" / "openagents" / "runtime" / "v1" / "run.proto"
    text = run_proto.read_text()
    field = "string thread_id = 2 [(google.api.field_behavior) = IMMUTABLE];"
    assert field in text
    run_proto.write_text(text.replace(field, field.replace("= 2", "= 99")))
    failed = _breaking(clone)
    assert failed.returncode != 0
    assert (
        'Previously present field "2" with name "thread_id" on message "Run"' in failed.stdout + failed.stderr
    )


def test_make_breaking_uses_the_committed_baseline() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nbreaking: setup\n", 1)[1].split("\n\n", 1)[0]
    # PROTO_BASELINE: `make bench BASELINE=path` names the bench's baseline results file.
    assert "--against $(PROTO_BASELINE)" in recipe and "PROTO_BASELINE := proto/released.binpb" in makefile
    assert "branch=main" not in recipe
