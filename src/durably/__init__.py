"""durably: durable functions for Python, with no cloud attached."""
