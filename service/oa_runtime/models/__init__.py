"""Model providers (adapters of the ModelProvider port) and the registry that picks one.

The OpenAI-compatible provider lives in `models.openai_compat`; it is not
imported here because its SDK is slow to import and only needed when configured.
"""

from .registry import ModelRegistry
from .retrying import ModelTimeout, RetryingProvider, RetryLater
from .scripted import SCRIPTED_MODEL, ScriptedProvider

__all__ = [
    "SCRIPTED_MODEL",
    "ModelRegistry",
    "ModelTimeout",
    "RetryLater",
    "RetryingProvider",
    "ScriptedProvider",
]
