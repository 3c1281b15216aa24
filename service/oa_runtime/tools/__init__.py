"""Tools the model can call: the registry (registry.py), built-ins (builtin.py), remote
HTTP tools (remote.py), the start-up loader (loader.py), the run's tool policy
(policy.py) and argument validation (schema.py). The engine runs calls as tool tasks
(engine/tool_tasks.py); their states and receipts live in core/tool_tasks.py."""
