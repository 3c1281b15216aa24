"""`oa-runtime smoke --base-url URL`: is a deployment serving? Over the public HTTP/SSE surface
(Envoy), as Laravel uses it: /readyz, start a run and stream it to `[DONE]`, start another and
cancel it. Tokens are minted per request from the configured secret. Exit 0 when all passed.

The Kubernetes smoke Job runs this after a rollout; `make test` runs it against the test stack.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from ..auth.token import mint_token

SIGNATURE = "X-OA-RUNTIME-SIGNATURE"
KEY_ID = "X-OA-RUNTIME-KEY-ID"


class SmokeFailed(Exception):
    pass


@dataclass
class Smoke:
    base_url: str
    secret: bytes
    key_id: str | None = None
    timeout_s: float = 30.0
    say: Callable[[str], None] = print

    def _headers(self, **claims: str | None) -> dict[str, str]:
        headers = {SIGNATURE: mint_token(self.secret, ttl_s=60, now=time.time(), **claims)}
        if self.key_id:
            headers[KEY_ID] = self.key_id
        return headers

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url.rstrip("/"), timeout=self.timeout_s) as http:
            self._check(http.get("/readyz").status_code == 200, "GET /readyz is not 200")
            self.say("ok   readyz")
            prefix = f"smoke-{uuid.uuid4().hex[:10]}"
            self._stream_a_run(http, f"{prefix}-stream", f"{prefix}-thread")
            self._cancel_a_run(http, f"{prefix}-cancel", f"{prefix}-thread")

    def _start(self, http: httpx.Client, run_id: str, thread_id: str, prompt: str) -> None:
        body = {"runId": run_id, "threadId": thread_id, "prompt": prompt}
        headers = self._headers(run_id=run_id, thread_id=thread_id)
        response = http.post("/internal/v1/runs", json=body, headers=headers)
        self._check(response.status_code == 200, f"start {run_id}: HTTP {response.status_code}")
        self._check(response.json().get("status") == "accepted", f"start {run_id}: {response.text}")

    def _stream_a_run(self, http: httpx.Client, run_id: str, thread_id: str) -> None:
        began = time.monotonic()
        self._start(http, run_id, thread_id, "/say smoke test ok")
        types: list[str] = []
        text = ""
        done = False
        url = f"/internal/v1/runs/{run_id}/stream"
        with http.stream("GET", url, headers=self._headers(run_id=run_id)) as response:
            self._check(response.status_code == 200, f"stream {run_id}: HTTP {response.status_code}")
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    done = True
                    break
                chunk = json.loads(line[6:])
                types.append(chunk["type"])
                text += chunk.get("delta", "") if chunk["type"] == "text-delta" else ""
        self._check(done, f"stream {run_id}: no [DONE] (frames {types})")
        self._check(types[0] == "start" and types[-1] == "finish", f"stream {run_id}: frames {types}")
        self._check(text == "smoke test ok", f"stream {run_id}: text {text!r}")
        self.say(f"ok   start + stream {run_id} ({len(types)} frames, {time.monotonic() - began:.2f} s)")

    def _cancel_a_run(self, http: httpx.Client, run_id: str, thread_id: str) -> None:
        self._start(http, run_id, thread_id, "/sleep 60000\n/say too late")
        url = f"/internal/v1/runs/{run_id}/cancel"
        response = http.post(url, json={}, headers=self._headers(run_id=run_id))
        self._check(response.status_code == 200, f"cancel {run_id}: HTTP {response.status_code}")
        deadline = time.monotonic() + self.timeout_s
        state = ""
        while time.monotonic() < deadline:
            run = http.get(f"/internal/v1/runs/{run_id}", headers=self._headers(run_id=run_id)).json()
            state = run.get("run", {}).get("state", "")
            if state == "RUN_STATE_CANCELED":
                self.say(f"ok   cancel {run_id}")
                return
            time.sleep(0.1)
        raise SmokeFailed(f"cancel {run_id}: still {state or 'unknown'} after {self.timeout_s:g} s")

    @staticmethod
    def _check(condition: bool, message: str) -> None:
        if not condition:
            raise SmokeFailed(message)
