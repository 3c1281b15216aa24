"""The application layer: the runtime's use cases (start a run, cancel it, append events,
decide an approval, answer a question) in core types, with no protobuf. The gRPC servicers
(`api/`) only convert requests and answers and call these; errors are DomainErrors that the
edge interceptor maps to statuses. Authorization happens before, by resource, at the edge
(`auth/`), for every method alike."""

from .runs import CancelOutcome, append_events, cancel_run, get_run, start_run
from .runtime import Runtime
from .waits import WaitOutcome, answer_question, catch_up, decide_approval

__all__ = [
    "CancelOutcome",
    "Runtime",
    "WaitOutcome",
    "answer_question",
    "append_events",
    "cancel_run",
    "catch_up",
    "decide_approval",
    "get_run",
    "start_run",
]
