"""Metrics (Prometheus), traces (OpenTelemetry) and the log context of runs."""
