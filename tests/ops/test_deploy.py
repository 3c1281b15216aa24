"""deploy/: the smoke Job's script passes against the test stack (real service behind the Envoy
sidecar config), and the rendered overlays keep the promises the runtime relies on."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from oa_runtime.ops.smoke import Smoke, SmokeFailed

from tests.ops.conftest import OpsStack, require_binary

ROOT = Path(__file__).resolve().parents[2]


async def test_the_smoke_script_passes_against_the_test_stack(ops_stack: OpsStack) -> None:
    said: list[str] = []
    smoke = Smoke(ops_stack.base_url, ops_stack.runtime.secret.encode(), say=said.append)
    await asyncio.to_thread(smoke.run)
    assert said[0] == "ok   readyz"
    assert said[1].startswith("ok   start + stream smoke-") and said[2].startswith("ok   cancel smoke-")
    wrong = Smoke(ops_stack.base_url, b"not-the-secret", say=said.append)
    with pytest.raises(SmokeFailed, match="HTTP 401"):
        await asyncio.to_thread(wrong.run)


def _render(overlay: str) -> list[dict[str, Any]]:
    kubectl = require_binary("kubectl")
    rendered = subprocess.run(
        [kubectl, "kustomize", f"deploy/k8s/overlays/{overlay}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_overlays_keep_the_runtime_promises(overlay: str) -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _render(overlay)}
    config = docs[("ConfigMap", "openagents-runtime")]["data"]
    pod = docs[("StatefulSet", "openagents-runtime")]["spec"]["template"]["spec"]
    runtime, gateway = pod["containers"]
    # Stable executor ids: the pod name.
    executor_id = next(e for e in runtime["env"] if e["name"] == "RUNTIME_EXECUTOR_ID")
    assert executor_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # The grace covers preStop + handoff + gRPC stop, and Envoy outlives the runtime's handoff.
    grace = float(config["RUNTIME_SHUTDOWN_GRACE_S"])
    pre_stop = float(runtime["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + 2 * grace
    assert float(gateway["lifecycle"]["preStop"]["exec"]["command"][1]) >= pre_stop + grace
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Secrets only by reference; nothing secret in the ConfigMap.
    secret_refs = {e["name"] for e in runtime["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert {"RUNTIME_DATABASE_URL", "RUNTIME_SIGNING_SECRET"} <= secret_refs
    assert not any(k for k in config if "SECRET" in k or "KEY" in k or "DATABASE" in k)
    assert not any(kind == "Secret" for kind, _ in docs)
    # Only Laravel's namespace reaches the service ports.
    policy = docs[("NetworkPolicy", "openagents-runtime")]["spec"]["ingress"][0]
    laravel = policy["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    assert laravel.startswith("laravel")
    assert {p["port"] for p in policy["ports"]} == {8080, 50051}
    assert {("Job", "openagents-runtime-migrate"), ("Job", "openagents-runtime-smoke")} <= set(docs)


def test_the_gateway_sidecar_config_adds_only_a_stats_listener(tmp_path: Path) -> None:
    from oa_runtime.cli import main

    descriptor = tmp_path / "runtime.binpb"
    descriptor.write_bytes(b"")
    argv = ["gateway", "--descriptor", str(descriptor), "--work-dir", str(tmp_path), "--render-only"]
    assert main(argv) == 0
    config = yaml.safe_load((tmp_path / "envoy.yaml").read_text())
    listeners = {item["name"]: item for item in config["static_resources"]["listeners"]}
    assert set(listeners) == {"rest_sse", "envoy_stats"}
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"  # admin stays loopback
    manager = listeners["envoy_stats"]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert routes[0] == {"match": {"path": "/stats/prometheus"}, "route": {"cluster": "envoy_admin"}}
    assert routes[1]["direct_response"]["status"] == 404  # nothing else of the admin API is exposed
