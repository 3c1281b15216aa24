"""Helpers for the agent end-to-end tests: a stub, frames, and waiting on the agent's stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from openagents.runtime.v1 import agent_event_pb2, agent_pb2
from openagents.runtime.v1 import agent_service_pb2 as pb
from openagents.runtime.v1 import agent_service_pb2_grpc as pb_grpc

from tests.support.runtime import RuntimeHandle

OWNER = 42


def stub(rt: RuntimeHandle) -> pb_grpc.AgentServiceStub:
    return pb_grpc.AgentServiceStub(rt.channel)


async def create(rt: RuntimeHandle, agent_id: str, **fields: object) -> pb.CreateAgentResponse:
    request = pb.CreateAgentRequest(
        agent_id=agent_id, thread_id=f"thread-{agent_id}", user_id=OWNER, **fields
    )
    response: pb.CreateAgentResponse = await stub(rt).CreateAgent(request, metadata=rt.md(user_id=OWNER))
    return response


def prompt(frame_id: str, text: str) -> agent_pb2.Frame:
    return agent_pb2.Frame(frame_id=frame_id, kind=agent_pb2.FRAME_KIND_USER_PROMPT, text=text)


async def submit(rt: RuntimeHandle, agent_id: str, *frames: agent_pb2.Frame) -> pb.SubmitFramesResponse:
    response: pb.SubmitFramesResponse = await stub(rt).SubmitFrames(
        pb.SubmitFramesRequest(agent_id=agent_id, frames=list(frames)), metadata=rt.md(agent_id=agent_id)
    )
    return response


async def get(rt: RuntimeHandle, agent_id: str) -> agent_pb2.Agent:
    response = await stub(rt).GetAgent(
        pb.GetAgentRequest(agent_id=agent_id), metadata=rt.md(agent_id=agent_id)
    )
    agent: agent_pb2.Agent = response.agent
    return agent


async def events_until(
    rt: RuntimeHandle,
    agent_id: str,
    done: Callable[[list[agent_event_pb2.AgentEvent]], bool],
    *,
    after_seq: int = 0,
    timeout_s: float = 20,
) -> list[agent_event_pb2.AgentEvent]:
    """The agent's events after `after_seq`, read live until `done(events)` holds."""
    out: list[agent_event_pb2.AgentEvent] = []
    call = stub(rt).StreamAgentEvents(
        pb.StreamAgentEventsRequest(agent_id=agent_id, after_seq=after_seq), metadata=rt.md(agent_id=agent_id)
    )
    try:
        async with asyncio.timeout(timeout_s):
            async for message in call:
                out.append(message.event)
                if done(out):
                    return out
    except TimeoutError:
        raise AssertionError(f"the condition did not hold in {timeout_s} s: {types(out)}") from None
    finally:
        call.cancel()
    raise AssertionError(f"the agent's stream ended before the condition held: {[e.type for e in out]}")


def types(events: list[agent_event_pb2.AgentEvent]) -> list[str]:
    return [e.type for e in events]


def slept_after_turns(n: int) -> Callable[[list[agent_event_pb2.AgentEvent]], bool]:
    """Done once `n` turns finished and the agent slept after the last."""

    def done(events: list[agent_event_pb2.AgentEvent]) -> bool:
        finished = [i for i, e in enumerate(events) if e.type == "agent.turn_finished"]
        return len(finished) >= n and any(e.type == "agent.slept" for e in events[finished[n - 1] :])

    return done
