"""One workload run on durably, in its own process: ``python -m benchmarks.durably_child
WORKLOAD --store URL [--quick] [--worker-kw KEY=VALUE ...]``.

Prints one ``RESULT {json}`` line. Every orchestration's status and output is checked; a
wrong result is an exception (and a failed run), never a figure.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from typing import Any

import durably
from benchmarks import common
from benchmarks.common import check
from benchmarks.workloads import BY_NAME, WARMUP_CHAINS, WARMUP_ONE_STEP, expected_fanout_sum

COMPLETED = durably.OrchestrationRuntimeStatus.Completed
PENDING = durably.OrchestrationRuntimeStatus.Pending

app = durably.App()
FORM = os.environ.get("DURABLY_BENCH_FORM", "generator")
"""The orchestrators' form: ``generator`` or ``async`` (``async def``, the same steps)."""
TRACING = os.environ.get("DURABLY_BENCH_TRACING", "off")
"""``export``: an OpenTelemetry SDK provider whose batch processor hands every span to an
exporter that encodes each batch as the OTLP exporters do (protobuf) and drops the bytes
(the work of a real exporter without a collector to send it to); ``drop``: the same
exporter dropping spans unencoded (the cost of making spans alone); ``sampled``: as
``export``, one trace in ten sampled; ``unsampled``: none sampled (what durably itself
costs once a provider is set); ``off``: no provider. Traced runs report the CPU seconds
the exporter spent encoding the workload's spans (``export_cpu_s``)."""
EXPORT_CPU = [0.0]
"""CPU seconds the exporter's thread has spent encoding so far."""


def _trace_to_nowhere() -> None:
    from collections.abc import Sequence

    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class EncodingExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            if TRACING != "drop":
                started = time.thread_time()
                encode_spans(spans).SerializeToString()
                EXPORT_CPU[0] += time.thread_time() - started
            return SpanExportResult.SUCCESS

    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased

    samplers = {"sampled": ParentBased(TraceIdRatioBased(0.1)), "unsampled": ALWAYS_OFF}
    provider = TracerProvider(sampler=samplers.get(TRACING))
    provider.add_span_processor(BatchSpanProcessor(EncodingExporter()))
    trace.set_tracer_provider(provider)


if TRACING in ("export", "drop", "sampled", "unsampled"):
    _trace_to_nowhere()


@app.activity
def add_one(x: int) -> int:
    return x + 1


def one_step(ctx: durably.OrchestrationContext) -> Any:
    return (yield ctx.call_activity(add_one, ctx.get_input()))


def chain(ctx: durably.OrchestrationContext) -> Any:
    x, steps = ctx.get_input()
    for _ in range(steps):
        x = yield ctx.call_activity(add_one, x)
    return x


def fanout(ctx: durably.OrchestrationContext) -> Any:
    width = ctx.get_input()
    results = yield ctx.task_all([ctx.call_activity(add_one, i) for i in range(width)])
    return sum(results)


def wait_event(ctx: durably.OrchestrationContext) -> Any:
    value = yield ctx.wait_for_external_event("go")
    return value + 1


async def one_step_async(ctx: durably.OrchestrationContext) -> Any:
    return await ctx.call_activity(add_one, ctx.get_input())


async def chain_async(ctx: durably.OrchestrationContext) -> Any:
    x, steps = ctx.get_input()
    for _ in range(steps):
        x = await ctx.call_activity(add_one, x)
    return x


async def fanout_async(ctx: durably.OrchestrationContext) -> Any:
    width = ctx.get_input()
    results = await ctx.task_all([ctx.call_activity(add_one, i) for i in range(width)])
    return sum(results)


async def wait_event_async(ctx: durably.OrchestrationContext) -> Any:
    value = await ctx.wait_for_external_event("go")
    return value + 1


ORCHESTRATORS: dict[str, dict[str, Callable[..., Any]]] = {
    "generator": {"one_step": one_step, "chain": chain, "fanout": fanout},
    "async": {"one_step": one_step_async, "chain": chain_async, "fanout": fanout_async},
}
ORCHESTRATORS["generator"]["wait_event"] = wait_event
ORCHESTRATORS["async"]["wait_event"] = wait_event_async
for _name, _function in ORCHESTRATORS[FORM].items():
    app.orchestrator(name=_name)(_function)


class Bench:
    """The client side of a workload: start, await and check."""

    def __init__(self, client: durably.Client, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    def finish(self, instance_id: str, expected: Any) -> None:
        status = self.client.wait_for_completion(instance_id, timeout=self.timeout)
        check(
            status.runtime_status == COMPLETED and status.output == expected,
            f"{instance_id}: {status.runtime_status} output={status.output!r}, "
            f"expected {expected!r}",
        )

    def run(self, name: str, client_input: Any, expected: Any) -> None:
        self.finish(self.client.start_new(name, client_input=client_input), expected)

    def warm_up(self) -> None:
        for i in range(WARMUP_ONE_STEP):
            self.run("one_step", i, i + 1)
        for _ in range(WARMUP_CHAINS):
            self.run("chain", [0, 10], 10)


# -- workloads: each takes the Bench and the sizes, returns its figures --------------------
def latency(b: Bench, p: dict[str, int]) -> dict[str, Any]:
    for i in range(p["warmups"]):
        b.run("one_step", i, i + 1)
    samples = []
    for i in range(p["samples"]):
        t0 = time.perf_counter()
        b.run("one_step", i, i + 1)
        samples.append(time.perf_counter() - t0)
    return common.percentiles_ms(samples)


def chain_sequential(b: Bench, p: dict[str, int]) -> dict[str, Any]:
    n, steps = p["orchestrations"], p["steps"]
    t0 = time.perf_counter()
    for i in range(n):
        b.run("chain", [i, steps], i + steps)
    return common.throughput(n, n * steps, time.perf_counter() - t0)


def chain_inflight(b: Bench, p: dict[str, int]) -> dict[str, Any]:
    n, steps = p["orchestrations"], p["steps"]
    t0 = time.perf_counter()
    ids = [b.client.start_new("chain", client_input=[i, steps]) for i in range(n)]
    for i, instance_id in enumerate(ids):
        b.finish(instance_id, i + steps)
    return common.throughput(n, n * steps, time.perf_counter() - t0)


def fanout_n(b: Bench, p: dict[str, int]) -> dict[str, Any]:
    width = p["width"]
    t0 = time.perf_counter()
    b.run("fanout", width, expected_fanout_sum(width))
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "act_per_s": width / wall}


def long_history(b: Bench, p: dict[str, int]) -> dict[str, Any]:
    short, long = p["short"], p["long"]
    t_short = common.timed(lambda: b.run("chain", [0, short], short))
    t_long = common.timed(lambda: b.run("chain", [0, long], long))
    return common.long_history(short, long, t_short, t_long)


def memory(b: Bench, p: dict[str, int]) -> dict[str, Any]:
    n = p["instances"]
    gc.collect()
    base = common.proc_status_mb("VmRSS")
    t0 = time.perf_counter()
    ids = [b.client.start_new("wait_event", client_input=None) for _ in range(n)]
    for instance_id in ids:  # each one has run its first episode and now waits
        deadline = time.monotonic() + b.timeout
        while True:
            status = b.client.get_status(instance_id, show_input=False)
            check(status is not None, f"{instance_id} vanished")
            assert status is not None
            if status.runtime_status != PENDING:
                break
            check(time.monotonic() < deadline, f"{instance_id} never started")
            time.sleep(0.01)
        check(not status.runtime_status.is_terminal, f"{instance_id}: {status.runtime_status}")
    started = time.perf_counter() - t0
    rss = common.proc_status_mb("VmRSS")
    t1 = time.perf_counter()
    for i, instance_id in enumerate(ids):
        b.client.raise_event(instance_id, "go", i)
    for i, instance_id in enumerate(ids):
        b.finish(instance_id, i + 1)
    return {
        "rss_mb": rss,
        "rss_base_mb": base,
        "rss_peak_mb": common.proc_status_mb("VmHWM"),
        "start_s": started,
        "drain_s": time.perf_counter() - t1,
    }


RUNNERS: dict[str, Callable[[Bench, dict[str, int]], dict[str, Any]]] = {
    "latency": latency,
    "chain": chain_sequential,
    "chain-inflight": chain_inflight,
    "fanout-200": fanout_n,
    "fanout-10k": fanout_n,
    "hello5": chain_inflight,
    "long-history": long_history,
    "memory-10k": memory,
}


def _worker_kwargs(pairs: list[str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        value: Any = raw
        for convert in (int, float):
            try:
                value = convert(raw)
                break
            except ValueError:
                pass
        kwargs[key] = value
    return kwargs


def main() -> None:
    args = common.child_args()
    workload = BY_NAME[args.workload]
    params = workload.params(args.quick)
    common.dump_stacks_before(workload.timeout_s)
    kwargs = _worker_kwargs(args.worker_kw)
    with durably.Worker(app, store=args.store, **kwargs) as worker:
        bench = Bench(worker.client(), timeout=workload.timeout_s)
        if not args.quick:
            bench.warm_up()
        encoded = _export_cpu()
        figures = RUNNERS[workload.name](bench, params)
        if encoded is not None:
            figures["export_cpu_s"] = _export_cpu() - encoded  # type: ignore[operator]
    common.emit({"params": params, "worker_kw": kwargs, **figures})


def _export_cpu() -> float | None:
    """The exporter's encoding CPU seconds once every span so far is exported (None
    untraced)."""
    if TRACING == "off":
        return None
    from opentelemetry import trace

    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    return EXPORT_CPU[0]


if __name__ == "__main__":
    main()
