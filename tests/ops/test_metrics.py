"""Metrics: what a run, its streams and failing calls add to the service's /metrics, and a real
Prometheus scraping the service and Envoy's stats and answering PromQL."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.conftest import OpsStack, free_port, require_binary

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SIGNATURE = "X-OA-RUNTIME-SIGNATURE"
LAG_SERIES = ("oa_runtime_projection_lag_events", frozenset({("projection", "thread_messages")}))


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


async def scrape(url: str) -> tuple[str, Samples]:
    async with httpx.AsyncClient() as client:
        response = await client.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response.text, parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def start_run(stack: OpsStack, client: httpx.AsyncClient, run_id: str, prompt: str) -> None:
    response = await client.post(
        f"{stack.base_url}/internal/v1/runs",
        headers={SIGNATURE: stack.runtime.token(run_id=run_id, thread_id="t-ops")},
        json={"runId": run_id, "threadId": "t-ops", "userId": 4242, "prompt": prompt},
    )
    assert response.status_code == 200, response.text


async def _a_run_a_left_stream_a_cancel_and_refused_calls(stack: OpsStack, run_id: str, slow_id: str) -> None:
    """A run with a tool call read to its end over SSE, a stream left early, a run canceled,
    a run not found and a call with a bad token."""
    async with httpx.AsyncClient(timeout=30) as client:
        await start_run(stack, client, run_id, '/say hello\n/tool math {"expression":"6*7"}\n/say done')
        body = b""
        url = f"{stack.base_url}/internal/v1/runs/{run_id}/stream"
        async with client.stream("GET", url, headers={SIGNATURE: stack.runtime.token(run_id=run_id)}) as sse:
            async for chunk in sse.aiter_bytes():
                body += chunk
        assert body.endswith(b"data: [DONE]\n\n")

        # A client that leaves a stream early, then a run canceled.
        await start_run(stack, client, slow_id, "/sleep 20000\n/say late")
        url = f"{stack.base_url}/internal/v1/runs/{slow_id}/stream"
        async with client.stream("GET", url, headers={SIGNATURE: stack.runtime.token(run_id=slow_id)}) as sse:
            async for chunk in sse.aiter_bytes():
                if b'"start"' in chunk:
                    break
        cancel = await client.post(
            f"{stack.base_url}/internal/v1/runs/{slow_id}/cancel",
            headers={SIGNATURE: stack.runtime.token(run_id=slow_id)},
            json={},
        )
        assert cancel.status_code == 200, cancel.text

        missing = await client.get(
            f"{stack.base_url}/internal/v1/runs/nope", headers={SIGNATURE: stack.runtime.token(run_id="nope")}
        )
        assert missing.status_code == 404
        url = f"{stack.base_url}/internal/v1/runs/{run_id}"
        refused = await client.get(url, headers={SIGNATURE: "v1.x.y"})
        assert refused.status_code == 401


async def test_a_run_its_streams_and_failed_calls_are_counted(ops_stack: OpsStack) -> None:
    stack = ops_stack
    _, before = await scrape(stack.metrics_url)
    run_id, slow_id = f"m-{uuid.uuid4().hex[:8]}", f"m-{uuid.uuid4().hex[:8]}"
    await _a_run_a_left_stream_a_cancel_and_refused_calls(stack, run_id, slow_id)

    latest: dict[str, Any] = {}  # the newest scrape: "text" and its parsed "samples"

    async def refresh() -> None:
        latest["text"], latest["samples"] = await scrape(stack.metrics_url)

    def delta(name: str, **labels: str) -> float:
        return value(latest["samples"], name, **labels) - value(before, name, **labels)

    async def settled() -> bool:
        await refresh()
        return (
            delta("oa_runtime_runs_finished_total", outcome="canceled", reason="canceled") >= 1
            and delta("oa_runtime_stream_client_disconnects_total", transport="sse") >= 1
            # The projector caught up with both runs' events (its gauge is set each second).
            and LAG_SERIES in latest["samples"]
            and latest["samples"][LAG_SERIES] == 0
        )

    deadline = time.monotonic() + 15
    while not await settled():
        assert time.monotonic() < deadline, "the cancel, the disconnect or the projection lag was not seen"
        await asyncio.sleep(0.1)

    grpc = "grpc_server_handled_total"
    assert delta(grpc, grpc_method="StartRun", grpc_code="OK") == 2
    assert delta(grpc, grpc_method="GetRun", grpc_code="NOT_FOUND") == 1
    assert delta(grpc, grpc_method="GetRun", grpc_code="UNAUTHENTICATED") == 1
    assert delta("grpc_server_handling_seconds_count", grpc_method="CancelRun") == 1
    assert delta("oa_runtime_runs_started_total") == 2
    assert delta("oa_runtime_runs_finished_total", outcome="succeeded", reason="stop") == 1
    assert delta("oa_runtime_streams_opened_total", transport="sse") == 2
    assert delta("oa_runtime_streams_done_total", transport="sse") == 1
    assert delta("oa_runtime_stream_first_frame_seconds_count", transport="sse") == 2
    assert delta("oa_runtime_tool_calls_total", tool="math", outcome="succeeded") == 1
    assert delta("oa_runtime_tool_call_duration_seconds_count", tool="math") == 1
    assert value(latest["samples"], "oa_runtime_tool_tasks_in_flight") == 0
    assert delta("oa_runtime_commit_batch_events_count") >= 1
    assert delta("oa_runtime_commit_batch_events_sum") >= 10  # every event of both runs was committed
    assert delta("oa_runtime_lease_claims_total") == 0  # runs created here hold their lease from birth
    assert delta("oa_runtime_phase_duration_seconds_count", phase="infer") == 2  # the canceled call is not
    assert delta("oa_runtime_model_first_token_seconds_count") >= 2
    # Bounded labels only: no run, thread or user id ever becomes a label value.
    # (Compared with label values, not the text: a sample's value, a timestamp such as
    # 1.795999826742424e+09, may contain the digits of a user id.)
    label_values = {value for (_, labels) in latest["samples"] for _, value in labels}
    for ident in (run_id, slow_id, "t-ops", "4242"):
        assert not any(ident in value for value in label_values), ident


def _prometheus_config(targets: dict[str, tuple[str, str]]) -> str:
    jobs = [
        {
            "job_name": job,
            "scrape_interval": "1s",
            "metrics_path": path,
            "static_configs": [{"targets": [address]}],
        }
        for job, (address, path) in targets.items()
    ]
    return json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs})  # JSON is YAML


async def _answers_once_both_targets_are_up(
    process: asyncio.subprocess.Process, api: str, queries: dict[str, str]
) -> dict[str, float]:
    """Asks Prometheus every query until each has an answer and both targets are up (60 s)."""
    answers: dict[str, float] = {}
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=5) as client:
        while len(answers) < len(queries):
            if process.returncode is not None:
                assert process.stderr is not None
                raise AssertionError(f"Prometheus exited: {(await process.stderr.read())[-2000:]!r}")
            assert time.monotonic() < deadline, f"Prometheus answered only {answers}"
            for name, query in queries.items():
                try:
                    response = await client.get(api, params={"query": query})
                except httpx.TransportError:
                    break  # not listening yet
                if response.status_code != 200:
                    break  # starting (503 until its storage is ready)
                doc = response.json()
                result = doc.get("data", {}).get("result", [])
                if doc.get("status") == "success" and result:
                    answers[name] = float(result[0]["value"][1])
            if len(answers) < len(queries) or answers.get("up", 0) < 2:
                answers.pop("up", None)
                await asyncio.sleep(0.5)
    return answers


async def test_prometheus_scrapes_the_service_and_envoy(ops_stack: OpsStack) -> None:
    prometheus = require_binary("prometheus")
    stack = ops_stack
    run_id = f"p-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=30) as client:
        await start_run(stack, client, run_id, "/say scraped")
    service = stack.metrics_url.removeprefix("http://").removesuffix("/metrics")
    envoy = stack.envoy_stats_url.removeprefix("http://").removesuffix("/stats/prometheus")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="oa-prometheus-") as work:
        config = Path(work) / "prometheus.yml"
        config.write_text(
            _prometheus_config({"runtime": (service, "/metrics"), "envoy": (envoy, "/stats/prometheus")})
        )
        process = await asyncio.create_subprocess_exec(
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={Path(work) / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",  # little output: the pipe is read only if Prometheus dies
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            api = f"http://127.0.0.1:{port}/api/v1/query"
            queries = {
                "runs": 'sum(grpc_server_handled_total{job="runtime",grpc_method="StartRun",grpc_code="OK"})',
                "envoy": 'sum(envoy_cluster_upstream_rq_total{job="envoy",'
                'envoy_cluster_name="runtime_grpc"})',
                "up": "sum(up)",
            }
            answers = await _answers_once_both_targets_are_up(process, api, queries)
        finally:
            if process.returncode is None:
                process.terminate()
            await asyncio.wait_for(process.wait(), 15)
    assert answers["up"] == 2  # both targets scraped
    assert answers["runs"] >= 1  # the PromQL query sees the service's RPC counter
    assert answers["envoy"] >= 1  # and Envoy's upstream requests to the runtime
