"""AgentService: converts requests to core types, calls the use cases (`app/agents.py`) and
converts the answers. Errors are DomainErrors, mapped to statuses by the edge interceptor.

StreamAgentSse interleaves the agent's own events, as AI SDK `data-agent` frames with SSE id
"<agent seq>", with each turn's UI-message-stream frames (from the turn's run, exactly as
StreamRunSse sends them, without the run's `[DONE]`), with SSE id "<agent seq>.<run seq>"
where <agent seq> is the turn's `agent.turn_started`. A client resumes from either form.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
from google.api import httpbody_pb2
from openagents.runtime.v1 import agent_event_pb2, agent_pb2
from openagents.runtime.v1 import agent_service_pb2 as pb
from openagents.runtime.v1 import agent_service_pb2_grpc as pb_grpc

from ..app import agents as app
from ..app.agents import Agents, require_agent_id
from ..app.runtime import Runtime
from ..core.agents import events as aev
from ..core.errors import DomainError, InvalidCursor, NotReady
from ..core.events import Event
from ..core.frames import SSE_DONE, Frame, encode_chunk, sse_comment
from ..core.validation import validate_cursor
from ..engine.agent_streams import check_agent_cursor, stream_agent_events
from ..engine.streams import stream_batches
from .agent_convert import (
    agent_event_to_proto,
    agent_to_proto,
    frames_from_proto,
    spec_from_proto,
    status_from_proto,
)
from .errors import abort
from .sse import CONTENT_TYPE, SSE_HEADERS, mapper_at

log = logging.getLogger(__name__)
RUN_APPEAR_POLL_S = 0.1  # a turn's run created on another replica is seen within this
_CURSOR = re.compile(r"^([0-9]{1,18})(?:\.([0-9]{1,18}))?$")


class AgentService(pb_grpc.AgentServiceServicer):  # type: ignore[misc]
    def __init__(self, agents: Agents, rt: Runtime) -> None:
        self.a = agents
        self.rt = rt

    async def CreateAgent(
        self, request: pb.CreateAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateAgentResponse:
        record, created = await app.create_agent(self.a, spec_from_proto(request))
        return pb.CreateAgentResponse(agent=agent_to_proto(record), created=created)

    async def GetAgent(
        self, request: pb.GetAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAgentResponse:
        return pb.GetAgentResponse(agent=agent_to_proto(await app.get_agent(self.a, request.agent_id)))

    async def ListAgents(
        self, request: pb.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAgentsResponse:
        records, token = await app.list_agents(
            self.a,
            page_size=request.page_size,
            page_token=request.page_token,
            status=status_from_proto(request.state),
            thread_id=request.thread_id,
            parent_agent_id=request.parent_agent_id,
        )
        return pb.ListAgentsResponse(agents=[agent_to_proto(r) for r in records], next_page_token=token)

    async def WakeAgent(
        self, request: pb.WakeAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.WakeAgentResponse:
        record, recorded = await app.wake_agent(self.a, request.agent_id)
        return pb.WakeAgentResponse(agent=agent_to_proto(record), recorded=recorded)

    async def SleepAgent(
        self, request: pb.SleepAgentRequest, context: grpc.aio.ServicerContext
    ) -> pb.SleepAgentResponse:
        record, recorded = await app.sleep_agent(self.a, request.agent_id)
        return pb.SleepAgentResponse(agent=agent_to_proto(record), recorded=recorded)

    async def SubmitFrames(
        self, request: pb.SubmitFramesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitFramesResponse:
        result = await app.submit_frames(self.a, request.agent_id, frames_from_proto(request.frames))
        out = pb.SubmitFramesResponse(
            agent=agent_to_proto(result.record),
            accepted_frame_ids=list(result.accepted),
            duplicate_frame_ids=list(result.duplicates),
            running_run_id=result.running_run_id,
        )
        if result.policy:
            out.applied_policy = agent_pb2.InputPolicy.Value(f"INPUT_POLICY_{result.policy.upper()}")
            outcome = f"INPUT_POLICY_OUTCOME_{result.outcome.upper()}"
            out.policy_outcome = agent_event_pb2.InputPolicyOutcome.Value(outcome)
        return out

    async def StreamAgentEvents(
        self, request: pb.StreamAgentEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamAgentEventsResponse]:
        agent_id = require_agent_id(request.agent_id)
        after = validate_cursor("after_seq", request.after_seq)
        heartbeat = request.heartbeat.ToTimedelta().total_seconds() if request.HasField("heartbeat") else None
        try:
            async for event in stream_agent_events(
                self.a.store,
                self.a.hub,
                agent_id,
                after,
                idle_timeout=heartbeat or None,
                poll_s=self.a.poll_s,
            ):
                if event is None:
                    yield pb.StreamAgentEventsResponse()
                else:
                    yield pb.StreamAgentEventsResponse(event=agent_event_to_proto(event))
        except NotReady:
            return  # shutting down: the client resumes elsewhere from its last seq

    async def StreamAgentSse(
        self, request: pb.StreamAgentSseRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamAgentSseResponse]:
        try:
            agent_id, agent_seq, run_seq, resume_turn = await self._open_sse(request, context)
        except DomainError as err:
            await abort(context, err)
            return
        await context.send_initial_metadata((*SSE_HEADERS, ("x-oa-agent-id", agent_id)))
        yield _sse(sse_comment("ok"))
        try:
            if resume_turn is not None:
                async for chunk in self._turn_frames(agent_seq, resume_turn, run_seq or 0):
                    yield _sse(chunk)
            async for event in stream_agent_events(
                self.a.store,
                self.a.hub,
                agent_id,
                agent_seq,
                idle_timeout=self.a.sse_heartbeat_s,
                poll_s=self.a.poll_s,
            ):
                if event is None:
                    yield _sse(sse_comment("keep-alive"))
                    continue
                yield _sse(_agent_frame(event))
                if event.type == aev.TURN_STARTED:
                    async for chunk in self._turn_frames(event.seq, str(event.payload["run_id"]), 0):
                        yield _sse(chunk)
                if event.type == aev.FAILED:
                    yield _sse(SSE_DONE)
        except NotReady:
            yield _sse(sse_comment("reconnect: this replica is shutting down"))
        except DomainError as err:
            log.warning("agent sse stream failed", extra={"agent_id": agent_id, "reason": err.reason})
            yield _sse(
                b"data: " + encode_chunk({"type": "error", "errorText": err.message}) + b"\n\n" + SSE_DONE
            )

    async def _open_sse(
        self, request: pb.StreamAgentSseRequest, context: grpc.aio.ServicerContext
    ) -> tuple[str, int, int | None, str | None]:
        """Checks the agent and the cursor before anything is sent: the agent id, the agent
        seq and run seq of the cursor, and the run of the turn it resumes inside (if any)."""
        agent_id = require_agent_id(request.agent_id)
        agent_seq, run_seq = _resume_cursor(request, context)
        record = await app.get_agent(self.a, agent_id)
        # InvalidCursor past the head, STALE_CURSOR (410) below the retention floor
        await check_agent_cursor(self.a.store, agent_id, agent_seq, record.state.last_seq)
        if run_seq is None:
            return agent_id, agent_seq, None, None
        resume_turn = await self._turn_at(agent_id, agent_seq)
        if resume_turn is None:
            raise InvalidCursor(f"agent event {agent_seq} started no turn", cursor=agent_seq)
        return agent_id, agent_seq, run_seq, resume_turn

    async def _turn_at(self, agent_id: str, agent_seq: int) -> str | None:
        events = await self.a.store.read_agent_events(agent_id, agent_seq - 1, limit=1)
        if not events or events[0].type != aev.TURN_STARTED:
            return None
        return str(events[0].payload["run_id"])

    async def _turn_frames(self, agent_seq: int, run_id: str, after: int) -> AsyncIterator[bytes]:
        """The turn's run as UI-message-stream frames after run seq `after`, until it ends."""
        store = self.rt.store
        if not await self._run_exists(run_id):
            return
        mapper = await mapper_at(store, run_id, after)
        async for batch in stream_batches(
            store, self.rt.broker, run_id, after, idle_timeout=self.a.sse_heartbeat_s
        ):
            if batch is None:
                yield sse_comment("keep-alive")
                continue
            frames = [f for e in batch for f in mapper.feed(e) if f.chunk is not None and f.seq > after]
            if frames:
                yield _encode_turn_frames(agent_seq, frames)

    async def _run_exists(self, run_id: str) -> bool:
        """Waits for the turn's run: `agent.turn_started` is durable just before the agent
        executor creates the run. False if the agent moved on without it."""
        with self.rt.broker.subscribe(run_id) as sub:
            while await self.rt.store.get_run(run_id) is None:
                record = await self.a.store.get_agent(run_id.rpartition(":turn:")[0])
                if record is None or record.state.turn is None or record.state.turn.run_id != run_id:
                    return False
                await sub.wait(RUN_APPEAR_POLL_S)
                sub.drain()
        return True


def _resume_cursor(
    request: pb.StreamAgentSseRequest, context: grpc.aio.ServicerContext
) -> tuple[int, int | None]:
    headers = [str(v) for k, v in context.invocation_metadata() or () if k == "last-event-id"]
    if len(headers) > 1:
        raise InvalidCursor("Last-Event-ID was sent more than once", cursor=",".join(headers)[:100])
    header = headers[0] if headers and headers[0] else None
    param = request.cursor or None
    if header is not None and param is not None and header != param:
        raise InvalidCursor(f"cursor {param} and Last-Event-ID {header} disagree", cursor=param[:100])
    text = param or header
    if text is None:
        return 0, None
    match = _CURSOR.match(text)
    if match is None:
        raise InvalidCursor('a cursor is "<agent seq>" or "<agent seq>.<run seq>"', cursor=text[:100])
    return int(match.group(1)), int(match.group(2)) if match.group(2) is not None else None


def _agent_frame(event: Event) -> bytes:
    data: dict[str, Any] = {"seq": event.seq, "type": event.type, "payload": dict(event.payload)}
    return b"id: %d\ndata: %s\n\n" % (event.seq, encode_chunk({"type": "data-agent", "data": data}))


def _encode_turn_frames(agent_seq: int, frames: list[Frame]) -> bytes:
    """As core.frames.encode_sse, with ids "<agent seq>.<run seq>" on each run event's last frame."""
    parts: list[bytes] = []
    for i, frame in enumerate(frames):
        assert frame.chunk is not None
        last_of_event = i + 1 == len(frames) or frames[i + 1].seq != frame.seq
        prefix = b"id: %d.%d\n" % (agent_seq, frame.seq) if last_of_event else b""
        parts.append(b"%sdata: %s\n\n" % (prefix, encode_chunk(frame.chunk)))
    return b"".join(parts)


def _sse(data: bytes) -> pb.StreamAgentSseResponse:
    return pb.StreamAgentSseResponse(body=httpbody_pb2.HttpBody(content_type=CONTENT_TYPE, data=data))
