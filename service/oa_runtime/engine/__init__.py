"""The engine: durable group-commit writer, live fan-out broker, stream readers and run executors."""
