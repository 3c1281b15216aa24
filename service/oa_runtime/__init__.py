"""OpenAgents Runtime: a durable execution engine for long-running AI agents."""
