"""The Envoy sidecar's configuration: the repository's gateway template plus a stats listener.

Envoy's admin interface stays on loopback (it can also drain and quit Envoy); Prometheus
scrapes Envoy through a second listener that serves `GET /stats/prometheus` and
nothing else, proxied to the admin port. `oa-runtime gateway` renders this and runs
Envoy (the Kubernetes sidecar); tests scrape the same listener.
"""

from __future__ import annotations

from typing import Any

import yaml

STATS_LISTENER = "envoy_stats"
STATS_PATH = "/stats/prometheus"
_ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def with_stats_listener(
    rendered: str, *, stats_port: int, admin_port: int, stats_host: str = "0.0.0.0"
) -> str:
    """The rendered gateway bootstrap plus the stats listener (admin must be on a fixed port)."""
    if admin_port <= 0:
        raise ValueError("the stats listener needs a fixed admin port")
    doc: dict[str, Any] = yaml.safe_load(rendered)
    resources = doc["static_resources"]
    resources["listeners"].append(_stats_listener(stats_host, stats_port))
    resources["clusters"].append(
        {
            "name": "envoy_admin",
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": "envoy_admin",
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {
                                "endpoint": {
                                    "address": {
                                        "socket_address": {"address": "127.0.0.1", "port_value": admin_port}
                                    }
                                }
                            }
                        ]
                    }
                ],
            },
        }
    )
    return str(yaml.safe_dump(doc, sort_keys=False))


def _stats_listener(host: str, port: int) -> dict[str, Any]:
    routes = [
        {"match": {"path": STATS_PATH}, "route": {"cluster": "envoy_admin"}},
        {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
    ]
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
        ".HttpConnectionManager",
        "stat_prefix": STATS_LISTENER,
        "route_config": {
            "name": STATS_LISTENER,
            "virtual_hosts": [{"name": STATS_LISTENER, "domains": ["*"], "routes": routes}],
        },
        "http_filters": [_ROUTER],
    }
    return {
        "name": STATS_LISTENER,
        "address": {"socket_address": {"address": host, "port_value": port}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}
        ],
    }
