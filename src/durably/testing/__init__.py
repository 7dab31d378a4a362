"""Test helpers shipped with durably: the backend contract suite (more to come)."""
