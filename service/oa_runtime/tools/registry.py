"""Tools as the runtime sees them: a callable, its JSON-schema input and how to run it.

A tool is registered once per process (built-ins, entry points of the group
`openagents_runtime.tools`, `module:callable` references and remote HTTP tools from
RUNTIME_TOOLS_CONFIG; see loader.py) and looked up by name for every call. The
declaration says what the engine may do with it: retry it or re-run it after a crash
(`idempotent`), let guests call it (`guest_safe`), ask a human first
(`requires_approval`), or treat it as a question to the user (`kind="question"`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

from ..core.records import ToolPolicy
from ..ports import ArtifactStore, ToolSpec
from .policy import denial
from .schema import InputSchema, SchemaError

if TYPE_CHECKING:
    from ..auth.token import Keyring
    from ..config import Settings

KIND_FUNCTION: Final = "function"
KIND_QUESTION: Final = "question"  # the engine asks the user; the answer is the output


class ToolFailed(Exception):
    """The tool ran and reported an error; the model sees the message.

    `retryable` failures (a remote 503, a dropped connection) are retried, but only for
    tools declared idempotent. `error_class` lands in the receipt."""

    def __init__(self, message: str, *, error_class: str = "tool_error", retryable: bool = False) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a running tool may know and do besides its arguments."""

    run_id: str
    thread_id: str
    tool_call_id: str
    attempt: int
    # Reports preliminary output (JSON-able); recorded as `tool.progress`, coalesced when frequent.
    progress: Callable[[Any], None] = field(repr=False)
    # The run's artifacts (large outputs stored by reference), for tools that read them back.
    artifacts: ArtifactStore | None = field(default=None, repr=False)


ToolFn = Callable[[dict[str, Any], ToolContext], Awaitable[Any]]


async def _no_body(args: dict[str, Any], ctx: ToolContext) -> Any:
    raise ToolFailed("this tool is answered by a person, not executed")


@dataclass(frozen=True, slots=True)
class Tool:
    spec: ToolSpec
    fn: ToolFn = _no_body
    version: str = "1"
    idempotent: bool = False  # safe to retry, and to run again after a crash mid-call
    timeout_s: float | None = None  # per attempt; None: RUNTIME_TOOL_TIMEOUT_S
    max_attempts: int | None = None  # idempotent tools only; None: RUNTIME_TOOL_MAX_ATTEMPTS
    guest_safe: bool = False
    requires_approval: bool = False
    approval_timeout_s: float | None = None  # None: RUNTIME_APPROVAL_TIMEOUT_S (0 = never)
    kind: str = KIND_FUNCTION
    agent_only: bool = False  # offered to agents' turns only (the timer tool)
    # The input schema compiled once, when the tool is made (and again by `replace`).
    input: InputSchema = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "input", InputSchema(self.spec.input_schema))
        except SchemaError as exc:
            raise SchemaError(f"tool {self.name!r} input_schema: {exc}") from exc

    @property
    def name(self) -> str:
        return self.spec.name


# Declaration fields a configuration may override per tool (RUNTIME_TOOLS_CONFIG "tools").
OVERRIDABLE: Final = frozenset(
    {
        "version",
        "idempotent",
        "timeout_s",
        "max_attempts",
        "guest_safe",
        "requires_approval",
        "approval_timeout_s",
        "description",
    }
)


def overridden(tool: Tool, changes: Mapping[str, Any]) -> Tool:
    unknown = set(changes) - OVERRIDABLE
    if unknown:
        raise ValueError(f"tool {tool.name!r}: cannot override {sorted(unknown)}")
    fields = dict(changes)
    description = fields.pop("description", None)
    if description is not None:
        fields["spec"] = replace(tool.spec, description=str(description))
    return replace(tool, **fields)


class ToolRegistry:
    """The tools of this process by name; immutable once built."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self._add(tool)

    def _add(self, tool: Tool) -> None:
        if tool.kind not in (KIND_FUNCTION, KIND_QUESTION):
            raise ValueError(f"tool {tool.name!r}: unknown kind {tool.kind!r}")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def with_tools(self, tools: Iterable[Tool]) -> ToolRegistry:
        """A registry with `tools` added (a name registered again replaces the earlier tool)."""
        return ToolRegistry([*self._tools.values(), *tools])

    def specs(self, policy: ToolPolicy, *, agent_turn: bool = False) -> tuple[ToolSpec, ...]:
        """What a run under `policy` is offered: the tools it may call (agent-only tools
        only to an agent's turn)."""
        return tuple(
            t.spec
            for t in self._tools.values()
            if denial(policy, t.name, t) is None and (agent_turn or not t.agent_only)
        )

    def with_defaults(
        self, *, timeout_s: float, max_attempts: int, approval_timeout_s: float
    ) -> ToolRegistry:
        """Every tool with the process-wide defaults filled in."""
        return ToolRegistry(
            replace(
                t,
                timeout_s=t.timeout_s if t.timeout_s is not None else timeout_s,
                max_attempts=t.max_attempts if t.max_attempts is not None else max_attempts,
                approval_timeout_s=(
                    t.approval_timeout_s if t.approval_timeout_s is not None else approval_timeout_s
                ),
            )
            for t in self._tools.values()
        )

    def configured(self, settings: Settings, keyring: Keyring) -> ToolRegistry:
        """This registry plus entry points and RUNTIME_TOOLS_CONFIG, with defaults applied.

        (Built-ins call this at start-up: `BUILTIN_TOOLS.configured(settings, keyring)`.)"""
        from .loader import load_registry  # the loader imports remote tools, which need httpx

        return load_registry(self, settings, keyring)
