"""The startup workload, in a fresh process: ``python -m benchmarks.startup durably|dbos URL``.

The clock starts before the system's first import and nothing else is imported first
(``benchmarks/__init__.py`` is empty), so ``import_ms`` is the real cost of the import.
``first_ms`` adds opening an empty store and running one 1-activity orchestration to the end.
"""

import time

T0 = time.perf_counter()

import sys  # noqa: E402  (after the clock on purpose; sys is already loaded anyway)


def durably_startup(store: str) -> tuple[float, float]:
    import durably

    t_import = time.perf_counter()
    app = durably.App()

    @app.activity
    def add_one(x: int) -> int:
        return x + 1

    @app.orchestrator
    def one_step(ctx: durably.OrchestrationContext):  # type: ignore[no-untyped-def]
        return (yield ctx.call_activity(add_one, ctx.get_input()))

    with durably.Worker(app, store=store) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new("one_step", client_input=1), 60)
        t_first = time.perf_counter()
        if status.runtime_status != durably.OrchestrationRuntimeStatus.Completed:
            raise AssertionError(status)
        if status.output != 2:
            raise AssertionError(status.output)
    return t_import, t_first


def dbos_startup(store: str) -> tuple[float, float]:
    from dbos import DBOS

    t_import = time.perf_counter()

    @DBOS.step()
    def add_one(x: int) -> int:
        return x + 1

    @DBOS.workflow()
    def one_step(x: int) -> int:
        return add_one(x)  # type: ignore[no-any-return]

    DBOS(config={"name": "durably-bench", "system_database_url": store, "log_level": "WARNING"})
    DBOS.launch()
    result = DBOS.start_workflow(one_step, 1).get_result()
    t_first = time.perf_counter()
    if result != 2:
        raise AssertionError(result)
    DBOS.destroy(destroy_registry=True)
    return t_import, t_first


def main() -> None:
    system, store = sys.argv[1], sys.argv[2]
    run = durably_startup if system == "durably" else dbos_startup
    t_import, t_first = run(store)
    import json

    figures = {"import_ms": (t_import - T0) * 1e3, "first_ms": (t_first - T0) * 1e3}
    sys.stdout.write("RESULT " + json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
