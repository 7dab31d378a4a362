"""Runnable apps for the Durable Functions application patterns."""
