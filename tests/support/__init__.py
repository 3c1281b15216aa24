"""Test helpers that start real dependencies (PostgreSQL, Envoy, a fake model provider)."""
