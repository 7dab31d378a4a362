"""Tests of the pure replay engine: hand-built histories, no I/O."""
