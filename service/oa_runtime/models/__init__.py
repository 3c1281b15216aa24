"""Model providers (adapters of the ModelProvider port) and the registry that picks one."""

from .openai_compat import OpenAICompatProvider
from .registry import ModelRegistry
from .retrying import ModelTimeout, RetryingProvider, RetryLater
from .scripted import SCRIPTED_MODEL, ScriptedProvider

__all__ = [
    "SCRIPTED_MODEL",
    "ModelRegistry",
    "ModelTimeout",
    "OpenAICompatProvider",
    "RetryLater",
    "RetryingProvider",
    "ScriptedProvider",
]
