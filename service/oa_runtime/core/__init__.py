"""The pure core: domain types, the run state machine and pure mappings.

Nothing in this package performs I/O or imports grpc, psycopg, sqlite3 or asyncio;
adapters around it convert to and from the wire and the databases.
"""
