"""breaking_changes() itself: it must catch every change that breaks a consumer, and only those.

Each case derives a v1 and a v2 pydantic model and compares their serialization schemas,
exactly as the published schemas are compared with the current models.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from supplychain_contracts import OrderPlaced
from supplychain_contracts.schemas import breaking_changes, event_schema


def schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="serialization")


# --- base models of "v1" ---------------------------------------------------------------


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Line(BaseModel):
    sku: str
    quantity: int


class V1(BaseModel):
    order_id: str
    amount: Decimal
    note: str | None = None
    colour: Colour = Colour.RED
    lines: tuple[Line, ...] = ()


V1_SCHEMA = schema(V1)


def test_identical_models_are_compatible() -> None:
    assert breaking_changes(V1_SCHEMA, schema(V1)) == []


def test_the_current_event_models_are_compatible_with_themselves() -> None:
    placed = event_schema(OrderPlaced)
    assert breaking_changes(placed, placed) == []


# --- detected --------------------------------------------------------------------------


def test_detects_a_removed_field() -> None:
    class V2(BaseModel):
        order_id: str
        amount: Decimal
        colour: Colour = Colour.RED
        lines: tuple[Line, ...] = ()

    assert breaking_changes(V1_SCHEMA, schema(V2)) == ["$.note: field removed or renamed"]


def test_detects_a_renamed_field() -> None:
    class V2(BaseModel):
        order_ref: str
        amount: Decimal
        note: str | None = None
        colour: Colour = Colour.RED
        lines: tuple[Line, ...] = ()

    problems = breaking_changes(V1_SCHEMA, schema(V2))
    assert "$.order_id: field removed or renamed" in problems
    assert "$.order_ref: new required field" in problems


def test_detects_a_field_retyped_from_string_to_integer() -> None:
    class V2(BaseModel):
        order_id: int
        amount: Decimal
        note: str | None = None
        colour: Colour = Colour.RED
        lines: tuple[Line, ...] = ()

    assert breaking_changes(V1_SCHEMA, schema(V2)) == [
        "$.order_id: type changed from string to integer"
    ]


def test_detects_money_retyped_from_decimal_to_float() -> None:
    class V2(BaseModel):
        order_id: str
        amount: float
        note: str | None = None
        colour: Colour = Colour.RED
        lines: tuple[Line, ...] = ()

    assert breaking_changes(V1_SCHEMA, schema(V2)) == [
        "$.amount: type changed from string to number"
    ]


def test_detects_a_changed_string_format() -> None:
    class Old(BaseModel):
        at: datetime

    class New(BaseModel):
        at: str

    problems = breaking_changes(schema(Old), schema(New))
    assert problems == ["$.at: type changed from string:date-time to string"]


def test_detects_an_optional_field_that_becomes_nullable_differently() -> None:
    class V2(BaseModel):
        order_id: str
        amount: Decimal
        note: int | None = None
        colour: Colour = Colour.RED
        lines: tuple[Line, ...] = ()

    problems = breaking_changes(V1_SCHEMA, schema(V2))
    assert len(problems) >= 1
    assert all(p.startswith("$.note") for p in problems)


def test_detects_a_retyped_field_of_a_nested_defs_model() -> None:
    def v2() -> type[BaseModel]:
        class Line(BaseModel):  # same name: same $defs key, new field type
            sku: str
            quantity: str

        class V2(BaseModel):
            order_id: str
            amount: Decimal
            note: str | None = None
            colour: Colour = Colour.RED
            lines: tuple[Line, ...] = ()

        return V2

    new = schema(v2())
    assert "$defs" in V1_SCHEMA
    assert "Line" in new["$defs"]
    assert breaking_changes(V1_SCHEMA, new) == [
        "$.lines[].quantity: type changed from integer to string"
    ]


def test_detects_a_removed_field_of_a_nested_defs_model() -> None:
    def v2() -> type[BaseModel]:
        class Line(BaseModel):
            sku: str

        class V2(BaseModel):
            order_id: str
            amount: Decimal
            note: str | None = None
            colour: Colour = Colour.RED
            lines: tuple[Line, ...] = ()

        return V2

    assert breaking_changes(V1_SCHEMA, schema(v2())) == [
        "$.lines[].quantity: field removed or renamed"
    ]


def test_detects_a_new_required_field() -> None:
    class V2(V1):
        cost_centre: str

    assert breaking_changes(V1_SCHEMA, schema(V2)) == ["$.cost_centre: new required field"]


def test_detects_a_new_required_field_of_a_nested_model() -> None:
    def v2() -> type[BaseModel]:
        class Line(BaseModel):
            sku: str
            quantity: int
            unit: str

        class V2(BaseModel):
            order_id: str
            amount: Decimal
            note: str | None = None
            colour: Colour = Colour.RED
            lines: tuple[Line, ...] = ()

        return V2

    assert breaking_changes(V1_SCHEMA, schema(v2())) == ["$.lines[].unit: new required field"]


def test_detects_a_removed_enum_value() -> None:
    def v2() -> type[BaseModel]:
        class Colour(StrEnum):
            RED = "red"
            GREEN = "green"

        class V2(BaseModel):
            order_id: str
            amount: Decimal
            note: str | None = None
            colour: Colour = Colour.RED
            lines: tuple[Line, ...] = ()

        return V2

    assert breaking_changes(V1_SCHEMA, schema(v2())) == ["$.colour: enum values removed ['blue']"]


def test_detects_a_removed_enum_value_behind_an_optional_field() -> None:
    class Size(StrEnum):
        S = "s"
        M = "m"
        L = "l"

    class Old(BaseModel):
        size: Size | None = None

    def new_model() -> type[BaseModel]:
        class Size(StrEnum):
            S = "s"
            M = "m"

        class New(BaseModel):
            size: Size | None = None

        return New

    problems = breaking_changes(schema(Old), schema(new_model()))
    assert problems == ["$.size: enum values removed ['l']"]


def test_detects_a_retyped_value_of_a_dict_field() -> None:
    class Old(BaseModel):
        targets: dict[str, int]

    class New(BaseModel):
        targets: dict[str, str]

    assert breaking_changes(schema(Old), schema(New)) != []


def test_detects_a_removed_position_of_a_fixed_tuple() -> None:
    class Old(BaseModel):
        pair: tuple[int, str]

    class New(BaseModel):
        pair: tuple[int]

    assert breaking_changes(schema(Old), schema(New)) != []


def test_detects_a_field_removed_from_a_real_event() -> None:
    placed = event_schema(OrderPlaced)
    shrunk = {**placed, "properties": dict(placed["properties"])}
    del shrunk["properties"]["priority"]
    assert breaking_changes(placed, shrunk) == ["$.priority: field removed or renamed"]


# --- allowed ---------------------------------------------------------------------------


def test_allows_a_new_optional_field() -> None:
    class V2(V1):
        cost_centre: str | None = None
        rush: bool = False

    assert breaking_changes(V1_SCHEMA, schema(V2)) == []


def test_allows_a_new_optional_field_in_a_nested_model() -> None:
    def v2() -> type[BaseModel]:
        class Line(BaseModel):
            sku: str
            quantity: int
            unit: str = "piece"

        class V2(BaseModel):
            order_id: str
            amount: Decimal
            note: str | None = None
            colour: Colour = Colour.RED
            lines: tuple[Line, ...] = ()

        return V2

    assert breaking_changes(V1_SCHEMA, schema(v2())) == []


def test_allows_a_new_enum_value() -> None:
    def v2() -> type[BaseModel]:
        class Colour(StrEnum):
            RED = "red"
            GREEN = "green"
            BLUE = "blue"
            YELLOW = "yellow"

        class V2(BaseModel):
            order_id: str
            amount: Decimal
            note: str | None = None
            colour: Colour = Colour.RED
            lines: tuple[Line, ...] = ()

        return V2

    assert breaking_changes(V1_SCHEMA, schema(v2())) == []


def test_allows_documentation_and_constraint_metadata_changes() -> None:
    class V2(BaseModel):
        order_id: str = Field(description="the order", examples=["o-1"])
        amount: Decimal = Field(description="money")
        note: str | None = Field(default=None, max_length=200)
        colour: Colour = Colour.RED
        lines: tuple[Line, ...] = ()

    assert breaking_changes(V1_SCHEMA, schema(V2)) == []


def test_allows_a_new_optional_field_on_a_real_event() -> None:
    placed = event_schema(OrderPlaced)
    grown = {**placed, "properties": dict(placed["properties"])}
    grown["properties"]["gift_wrap"] = {"default": False, "type": "boolean"}
    assert breaking_changes(placed, grown) == []
