"""Operating the runtime: the operator CLI's client, the smoke check, the gateway sidecar config."""
