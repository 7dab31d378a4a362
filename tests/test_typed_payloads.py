"""Typed payloads: dataclasses, pydantic models, datetimes, UUIDs, Decimals, enums,
tuples and sets go in as JSON and come back as the receiving side declares (activity
parameters and returns, call_activity's return_type, get_input's type), in both
orchestrator forms, on every store. History stays plain JSON; nothing is pickled."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import re
import uuid
from collections.abc import Generator
from typing import Any

import pydantic
import pytest

import durably
from durably.backends.base import Backend
from durably.testing import Harness
from durably.typed import convert
from tests.orchestrator_forms import orchestrator_form

__all__ = ["orchestrator_form"]


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    price: decimal.Decimal


@dataclasses.dataclass(frozen=True)
class Order:
    id: uuid.UUID
    placed: dt.datetime
    ships: dt.date
    lines: tuple[Line, ...]
    tags: frozenset[str]
    size: Size
    box: tuple[int, int]
    note: str | None = None


class Customer(pydantic.BaseModel):
    name: str
    since: dt.date


app = durably.App()


@app.activity
def total(order: Order) -> decimal.Decimal:
    assert isinstance(order, Order) and isinstance(order.lines[0], Line)
    return sum((line.price * line.quantity for line in order.lines), decimal.Decimal(0))


@app.activity
def confirm(order: Order) -> Order:
    return dataclasses.replace(order, note="confirmed")


@app.activity
def greet(customer: Customer) -> Customer:
    return customer.model_copy(update={"name": customer.name.upper()})


@app.activity
def untyped(value):  # type: ignore[no-untyped-def]
    return value


@app.orchestrator
def checkout(context: durably.OrchestrationContext) -> Any:
    order = context.get_input(Order)
    amount = yield context.call_activity(total, order)
    confirmed = yield context.call_activity(confirm, order)
    by_name = yield context.call_activity("confirm", order, return_type=Order)
    customer = yield context.call_activity(greet, Customer(name="ada", since=dt.date(2020, 1, 2)))
    raw = yield context.call_activity(untyped, order)
    assert isinstance(amount, decimal.Decimal) and amount == decimal.Decimal("7.50")
    assert isinstance(confirmed, Order) and confirmed.note == "confirmed"
    assert confirmed == dataclasses.replace(order, note="confirmed") == by_name
    assert isinstance(customer, Customer) and customer.name == "ADA"
    assert isinstance(raw, dict)  # no annotation: plain JSON
    return {"amount": amount, "order": confirmed, "customer": customer}


ORDER = Order(
    id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    placed=dt.datetime(2026, 12, 4, 10, 30, tzinfo=dt.UTC),
    ships=dt.date(2026, 12, 6),
    lines=(Line("pen", 3, decimal.Decimal("1.50")), Line("ink", 1, decimal.Decimal("3.00"))),
    tags=frozenset({"gift", "express", "b2b"}),
    size=Size.LARGE,
    box=(30, 20),
)


@pytest.mark.usefixtures("orchestrator_form")  # generator and async def orchestrators
def test_typed_values_round_trip_through_a_worker(backend: Backend) -> None:
    with durably.Worker(app, store=backend, poll_interval=0.02) as worker:
        client = worker.client()
        instance_id = client.start_new(checkout, "typed-1", ORDER)
        status = client.wait_for_completion(instance_id, timeout=30)
        assert status.runtime_status == "Completed", status.output
        history = client.get_history(instance_id)
    assert status.output["amount"] == "7.50"
    assert status.output["order"]["tags"] == ["b2b", "express", "gift"]  # sorted: stable
    assert status.output["customer"] == {"name": "ADA", "since": "2020-01-02"}
    # History is plain JSON: readable by the CLI and the dashboard.
    started = json.loads(history[1].to_json())
    assert json.loads(started["Input"])["placed"] == "2026-12-04T10:30:00+00:00"


@app.activity
def wrong_shape(order: Order) -> int:
    return 1


@app.orchestrator
def misfit(context: durably.OrchestrationContext) -> Any:
    try:
        yield context.call_activity(wrong_shape, {"id": "not a uuid"})
    except durably.TaskFailedError as error:
        return str(error)
    return "no error"


def test_an_input_that_does_not_fit_fails_the_activity_naming_where() -> None:
    with durably.Worker(app, store="memory://typed-misfit", poll_interval=0.02) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new(misfit), timeout=30)
    assert "TypeError" in status.output and "input.id" in status.output


def test_an_unencodable_value_fails_at_the_call_naming_its_path() -> None:
    client = durably.Client("memory://typed-refused", app=app)
    with pytest.raises(TypeError, match=r"at \$\.lines\[1\].*object is not JSON"):
        client.start_new(checkout, client_input={"lines": [1, object()]})


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        ("2026-01-02T03:04:05+00:00", dt.datetime, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        ("2026-01-02", dt.date, dt.date(2026, 1, 2)),
        (90.0, dt.timedelta, dt.timedelta(seconds=90)),
        ("1.10", decimal.Decimal, decimal.Decimal("1.10")),
        ("s", Size, Size.SMALL),
        ([1, 2], tuple[int, int], (1, 2)),
        ([1, 2, 2], set[int], {1, 2}),
        ({"a": "2026-01-02"}, dict[str, dt.date], {"a": dt.date(2026, 1, 2)}),
        (None, int | None, None),
        (3, float, 3.0),
        ({"anything": 1}, Any, {"anything": 1}),
    ],
)
def test_convert(value: Any, annotation: Any, expected: Any) -> None:
    assert convert(value, annotation) == expected


@pytest.mark.parametrize(
    ("value", "annotation", "message"),
    [
        ("x", int, "$: expected int"),
        (True, int, "$: expected int"),
        ("nope", Size, "'nope' is not a Size"),
        ({"sku": "a"}, Line, "missing"),
        ({"sku": "a", "quantity": 1, "price": "1", "extra": 1}, Line, "no field 'extra'"),
        ([1], tuple[int, int], "a list of 2"),
        ({"name": 5}, Customer, "not a valid Customer"),
    ],
)
def test_convert_refuses_what_does_not_fit(value: Any, annotation: Any, message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        convert(value, annotation)


@app.activity
def not_an_id(x: int) -> uuid.UUID:
    return "not-a-uuid"  # type: ignore[return-value]


@app.orchestrator
def catches(context: durably.OrchestrationContext) -> Any:
    try:
        yield context.call_activity(not_an_id, 1)
    except durably.TaskFailedError as error:
        return f"caught: {error}"
    return "no error"


def test_a_result_that_does_not_fit_fails_the_task_catchably() -> None:
    with durably.Worker(app, store="memory://typed-result", poll_interval=0.02) as worker:
        client = worker.client()
        status = client.wait_for_completion(client.start_new(catches), timeout=30)
    assert status.runtime_status == "Completed"
    assert status.output.startswith("caught: ") and "result: expected UUID" in status.output


@app.orchestrator
def make_order(context: durably.OrchestrationContext) -> Generator[Any, Any, Order]:
    order = yield context.call_activity(confirm, context.get_input(Order))
    return order


@app.orchestrator
def orders_from_children(context: durably.OrchestrationContext) -> Any:
    retry = durably.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=2)
    plain = yield context.call_sub_orchestrator(make_order, ORDER)
    retried = yield context.call_sub_orchestrator_with_retry(make_order, retry, ORDER)
    by_name = yield context.call_sub_orchestrator_with_retry(
        "make_order", retry, ORDER, return_type=Order
    )
    return [type(child).__name__ for child in (plain, retried, by_name)]


def test_a_generator_orchestrator_s_return_annotation_types_its_output() -> None:
    # Generator[Y, S, R]: the parent gets an R, whether the child is retried or named.
    with Harness(app) as harness:
        client = harness.client()
        status = client.wait_for_completion(client.start_new(orders_from_children))
    assert status.output == ["Order", "Order", "Order"], status.output
