"""Tools the model can call. The tool-task issue grows this into a registry with
policies, receipts and remote tools; for now: built-ins run in-process."""
