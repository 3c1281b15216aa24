"""`oa-runtime runs list|show|tail|cancel|start`: an operator's gRPC client for any replica.

Every call carries a fresh service token minted from the configured secret
(RUNTIME_SIGNING_SECRET / RUNTIME_SIGNING_KEYS, or var/dev-signing-secret locally)
with the claims the request needs, so nobody copies single-use tokens by hand.
The client is synchronous gRPC: one call at a time is all a terminal needs, and
grpcio-testing's scripted channel can stand in for the server in unit tests.

`tail` prints each event as it becomes durable and keeps a progress line on stderr;
when a stream is cut (the replica shuts down, the connection drops) it resumes after
the last seq it printed, so no event is shown twice or skipped.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from openagents.runtime.v1 import run_event_pb2, run_pb2, run_service_pb2, run_service_pb2_grpc

from ..auth.token import mint_token

SIGNATURE_HEADER = "x-oa-runtime-signature"
KEY_ID_HEADER = "x-oa-runtime-key-id"
USER_ID_HEADER = "x-oa-user-id"
RESUMABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
# Exit codes by status, so scripts can tell "not there" from "try again" from "your fault".
EXIT_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: 2,
    grpc.StatusCode.FAILED_PRECONDITION: 2,
    grpc.StatusCode.OUT_OF_RANGE: 2,
    grpc.StatusCode.UNAUTHENTICATED: 3,
    grpc.StatusCode.PERMISSION_DENIED: 3,
    grpc.StatusCode.NOT_FOUND: 4,
    grpc.StatusCode.ALREADY_EXISTS: 5,
    grpc.StatusCode.ABORTED: 5,
    grpc.StatusCode.UNAVAILABLE: 6,
    grpc.StatusCode.DEADLINE_EXCEEDED: 6,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 6,
}


class CliError(Exception):
    """A failure to report on stderr with an exit code (no traceback)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def describe_rpc_error(err: grpc.RpcError) -> CliError:
    """`NOT_FOUND RUN_NOT_FOUND: run 'r1' not found {run_id=r1}` and the exit code for its status."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    reason = ""
    try:
        status = rpc_status.from_call(err)
    except (AttributeError, ValueError, TypeError):
        status = None
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                meta = ", ".join(f"{k}={v}" for k, v in sorted(info.metadata.items()))
                reason = f" {info.reason}" + (f" {{{meta}}}" if meta else "")
                break
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    return CliError(f"{name}{reason}: {details or 'no details'}", EXIT_CODES.get(code, 1))


@dataclass
class TokenSource:
    """Mints one single-use token per call."""

    secret: bytes
    ttl_s: int = 60
    key_id: str | None = None
    user_id: str | None = None
    clock: Callable[[], float] = time.time

    def metadata(self, **claims: str | None) -> tuple[tuple[str, str], ...]:
        token = mint_token(self.secret, ttl_s=self.ttl_s, now=self.clock(), **claims)
        md: list[tuple[str, str]] = [(SIGNATURE_HEADER, token)]
        if self.key_id:
            md.append((KEY_ID_HEADER, self.key_id))
        if self.user_id and "user_id" in claims:
            md.append((USER_ID_HEADER, self.user_id))
        return tuple(md)


@dataclass
class RunsClient:
    channel: grpc.Channel
    tokens: TokenSource
    timeout_s: float = 10.0
    stub: Any = field(init=False)

    def __post_init__(self) -> None:
        self.stub = run_service_pb2_grpc.RunServiceStub(self.channel)

    def _call(self, method: Callable[..., Any], request: Any, **claims: str | None) -> Any:
        try:
            return method(request, metadata=self.tokens.metadata(**claims), timeout=self.timeout_s)
        except grpc.RpcError as err:
            raise describe_rpc_error(err) from None

    def start(
        self, run_id: str, thread_id: str, prompt: str, *, user_id: int = 0, model: str = ""
    ) -> run_service_pb2.StartRunResponse:
        request = run_service_pb2.StartRunRequest(
            run_id=run_id, thread_id=thread_id, prompt=prompt, user_id=user_id, model=model
        )
        claims: dict[str, str | None] = {"run_id": run_id, "thread_id": thread_id}
        if user_id:
            claims["user_id"] = str(user_id)
        return self._call(self.stub.StartRun, request, **claims)

    def show(self, run_id: str) -> run_pb2.Run:
        response = self._call(self.stub.GetRun, run_service_pb2.GetRunRequest(run_id=run_id), run_id=run_id)
        return response.run

    def list(self, thread_id: str = "", state: int = 0, page_size: int = 20) -> list[run_pb2.Run]:
        request = run_service_pb2.ListRunsRequest(thread_id=thread_id, state=state, page_size=page_size)
        response = self._call(self.stub.ListRuns, request, thread_id=thread_id or None)
        return list(response.runs)

    def cancel(self, run_id: str, reason: str = "") -> run_service_pb2.CancelRunResponse:
        request = run_service_pb2.CancelRunRequest(run_id=run_id, reason=reason)
        return self._call(self.stub.CancelRun, request, run_id=run_id)

    def follow(
        self, run_id: str, after_seq: int = 0, *, max_resumes: int = 5, backoff_s: float = 0.2
    ) -> Iterator[run_event_pb2.RunEvent]:
        """The run's events after `after_seq` until its end; a cut stream is resumed after
        the last event yielded (at most `max_resumes` times in a row without progress)."""
        last, failures = after_seq, 0
        while True:
            request = run_service_pb2.StreamRunEventsRequest(run_id=run_id, after_seq=last)
            try:
                # No deadline: a stream lasts as long as the run.
                stream = self.stub.StreamRunEvents(request, metadata=self.tokens.metadata(run_id=run_id))
                for message in stream:
                    event = message.event
                    if event.seq <= last:
                        continue
                    last, failures = event.seq, 0
                    yield event
                    if event.type == "run.finished":
                        return
                return  # the server ended the stream: the run had already finished
            except grpc.RpcError as err:
                if err.code() not in RESUMABLE or failures >= max_resumes:
                    raise describe_rpc_error(err) from None
                failures += 1
                time.sleep(backoff_s * failures)


# ----- presentation -----

_PAYLOAD_SKIP = frozenset({"runId", "seq", "eventId", "type", "occurredAt"})


def event_line(event: run_event_pb2.RunEvent) -> str:
    """`   12 message.delta           {"delta": "Hello"}`: seq, type and the payload."""
    doc = json_format.MessageToDict(event)
    payload = {k: v for k, v in doc.items() if k not in _PAYLOAD_SKIP}
    body = next(iter(payload.values()), {}) if len(payload) == 1 else payload
    return f"{event.seq:>6} {event.type:<22} {json.dumps(body, separators=(',', ':'), ensure_ascii=False)}"


@dataclass
class Progress:
    """The live line on stderr: `seq 42 · step 2 · 318 chars · 2 tools · 3.1 s`."""

    out: TextIO
    live: bool
    began: float = field(default_factory=time.monotonic)
    seq: int = 0
    step: int = 0
    chars: int = 0
    tools: int = 0

    def update(self, event: run_event_pb2.RunEvent) -> None:
        self.seq = event.seq
        which = event.WhichOneof("payload")
        if which == "step_started":
            self.step = event.step_started.step
        elif which == "message_delta":
            self.chars += len(event.message_delta.delta)
        elif which == "tool_call_requested":
            self.tools += 1
        if self.live:
            self.out.write("\r\x1b[2K" + self.text())
            self.out.flush()

    def text(self) -> str:
        elapsed = time.monotonic() - self.began
        counts = f"{self.chars} chars · {self.tools} tools"
        return f"seq {self.seq} · step {self.step} · {counts} · {elapsed:.1f} s"

    def done(self) -> None:
        if self.live:
            self.out.write("\r\x1b[2K")
        self.out.write(self.text() + "\n")
        self.out.flush()


def run_row(run: run_pb2.Run) -> str:
    state = run_pb2.RunState.Name(run.state).removeprefix("RUN_STATE_").lower()
    updated = run.update_time.ToJsonString() if run.HasField("update_time") else ""
    ids = f"{run.run_id:<28} {run.thread_id:<20}"
    return f"{ids} {state:<10} {run.step_count:>5} {run.last_seq:>6}  {updated}"


RUN_HEADER = f"{'RUN':<28} {'THREAD':<20} {'STATE':<10} {'STEPS':>5} {'SEQ':>6}  UPDATED"


def run_json(run: run_pb2.Run) -> str:
    return json_format.MessageToJson(run, indent=2)


def tail(client: RunsClient, run_id: str, after_seq: int, out: TextIO, err: TextIO, live: bool) -> int:
    """Prints events until the run ends; 0 when it succeeded or was canceled, 1 when it failed."""
    progress = Progress(err, live)
    outcome = ""
    for event in client.follow(run_id, after_seq):
        out.write(event_line(event) + "\n")
        out.flush()
        progress.update(event)
        if event.type == "run.finished":
            outcome = run_event_pb2.RunOutcome.Name(event.run_finished.outcome)
    progress.done()
    return 1 if outcome.endswith("FAILED") else 0


def add_runs_parser(sub: Any) -> argparse.ArgumentParser:
    runs: argparse.ArgumentParser = sub.add_parser(
        "runs", help="list, show, tail, cancel or start runs on any replica (gRPC, fresh token per call)"
    )
    runs.add_argument(
        "--address", help="host:port of any replica (default RUNTIME_ADDRESS, else RUNTIME_GRPC_HOST/PORT)"
    )
    runs.add_argument("--key-id", help="sign with this key of RUNTIME_SIGNING_KEYS")
    verbs = runs.add_subparsers(dest="runs_command", required=True)
    listing = verbs.add_parser("list", help="newest runs first")
    listing.add_argument("--thread-id", default="")
    listing.add_argument("--state", choices=[s.removeprefix("RUN_STATE_").lower() for s in _STATES])
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    show = verbs.add_parser("show", help="one run as JSON")
    show.add_argument("run_id")
    tail_cmd = verbs.add_parser("tail", help="follow a run's events live, with a progress line")
    tail_cmd.add_argument("run_id")
    tail_cmd.add_argument("--after-seq", type=int, default=0, help="start after this event (default: all)")
    tail_cmd.add_argument("--no-progress", action="store_true", help="no live progress line on stderr")
    cancel = verbs.add_parser("cancel", help="cancel a run (durable; reaches the executing replica)")
    cancel.add_argument("run_id")
    cancel.add_argument("--reason", default="canceled by an operator")
    start = verbs.add_parser("start", help="start a run (and, with --tail, follow it)")
    start.add_argument("--thread-id", required=True)
    start.add_argument("--prompt", required=True)
    start.add_argument("--run-id", help="default: a new id")
    start.add_argument("--user-id", type=int, default=0, help="the user's numeric id (Laravel's users.id)")
    start.add_argument("--model", default="")
    start.add_argument("--tail", action="store_true")
    return runs


_STATES = [n for n in run_pb2.RunState.keys() if n != "RUN_STATE_UNSPECIFIED"]  # noqa: SIM118


def run_command(client: RunsClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Runs one `runs` verb; CliError for a failed call."""
    verb = args.runs_command
    if verb == "list":
        state = run_pb2.RunState.Value("RUN_STATE_" + args.state.upper()) if args.state else 0
        runs = client.list(args.thread_id, state, args.limit)
        if args.json:
            out.write(json.dumps([json_format.MessageToDict(r) for r in runs], indent=2) + "\n")
        else:
            out.write("\n".join([RUN_HEADER, *(run_row(r) for r in runs)]) + "\n")
        return 0
    if verb == "show":
        out.write(run_json(client.show(args.run_id)) + "\n")
        return 0
    if verb == "cancel":
        response = client.cancel(args.run_id, args.reason)
        state = run_pb2.RunState.Name(response.run.state) if response.HasField("run") else ""
        recorded = "cancel recorded" if response.cancel_recorded else "already ending or ended"
        out.write(f"{args.run_id}: {recorded} {state}".rstrip() + "\n")
        return 0
    if verb == "tail":
        live = not args.no_progress and err.isatty()
        return tail(client, args.run_id, args.after_seq, out, err, live)
    run_id = args.run_id or f"run-{uuid.uuid4().hex[:12]}"
    response = client.start(run_id, args.thread_id, args.prompt, user_id=args.user_id, model=args.model)
    out.write(f"{response.run_id}: {response.status}{'' if response.created else ' (existing)'}\n")
    if args.tail:
        return tail(client, run_id, 0, out, err, err.isatty())
    return 0
