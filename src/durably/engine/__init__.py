"""The pure replay engine: no I/O, no clock, no threads."""
