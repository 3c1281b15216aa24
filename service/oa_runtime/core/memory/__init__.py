"""Tiered memory, the pure part: chunks, planning, prompts, token counts, context, expand, retention.

No I/O: the store and the compaction workloads (once the platform's streams, projections and
workloads land) feed these functions events and chunks and write what they return.
See docs/MEMORY.md.
"""
