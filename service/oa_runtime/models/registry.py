"""Which provider serves which model name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.errors import UnknownModel
from ..ports import ModelProvider
from .retrying import RetryingProvider
from .scripted import SCRIPTED_MODEL, ScriptedProvider


class ModelRegistry:
    """Providers in priority order: the first that serves a model name gets it.

    An empty model name means `default_model`.
    """

    def __init__(self, providers: Sequence[ModelProvider], default_model: str = SCRIPTED_MODEL) -> None:
        self.providers = tuple(providers)
        self.default_model = default_model

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ModelRegistry:
        """The scripted model always; an OpenAI-compatible endpoint when
        RUNTIME_OPENAI_BASE_URL is set, whose RUNTIME_MODEL becomes the default."""
        delay_ms = float(environ.get("RUNTIME_SCRIPTED_MEMORY_DELAY_MS") or 0)
        providers: list[ModelProvider] = [ScriptedProvider(delay_ms / 1000)]
        default_model = SCRIPTED_MODEL
        if environ.get("RUNTIME_OPENAI_BASE_URL"):
            # Imported only when configured: the SDK takes half a second to import,
            # which every restart (and so every recovery) would pay.
            from .openai_compat import OpenAICompatProvider

            providers.append(RetryingProvider(OpenAICompatProvider.from_env(environ)))
            default_model = environ.get("RUNTIME_MODEL") or SCRIPTED_MODEL
        return cls(providers, default_model)

    def resolve(self, model: str) -> ModelProvider:
        """The provider for `model`; UnknownModel when none serves it."""
        wanted = model or self.default_model
        for provider in self.providers:
            if provider.serves(wanted):
                return provider
        raise UnknownModel(f"unknown model {model!r}", model=model)

    async def aclose(self) -> None:
        """Releases providers that hold connections."""
        for provider in self.providers:
            inner = getattr(provider, "inner", provider)
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()
