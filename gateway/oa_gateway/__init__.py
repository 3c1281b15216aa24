"""The Envoy gateway: renders the REST/SSE transcoding config and runs Envoy next to the runtime."""

from oa_gateway.config import GatewayConfig, build_descriptor_set, render_config
from oa_gateway.launcher import EnvoyNotFound, EnvoyProcess, EnvoyStartError, find_envoy, start_envoy

__all__ = [
    "EnvoyNotFound",
    "EnvoyProcess",
    "EnvoyStartError",
    "GatewayConfig",
    "build_descriptor_set",
    "find_envoy",
    "render_config",
    "start_envoy",
]
