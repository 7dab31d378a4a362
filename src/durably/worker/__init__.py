"""Dispatchers and the Worker that runs them on threads."""

from durably.worker.activities import ActivityDispatcher
from durably.worker.orchestrations import OrchestrationDispatcher
from durably.worker.worker import Worker

__all__ = ["ActivityDispatcher", "OrchestrationDispatcher", "Worker"]
