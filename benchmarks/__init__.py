"""durably's benchmark suite: the peers' workloads, run side by side with DBOS.

``python -m benchmarks.run --help`` (or ``make bench`` / ``make bench-peers``). This
package imports nothing at import time: the startup workload measures ``import durably``
in a process that has loaded as little else as possible.
"""
