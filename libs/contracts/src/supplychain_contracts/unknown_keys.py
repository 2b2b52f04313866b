"""Keys a document holds that its model does not know, each with its path and the closest
known key: `departments[3].aproval_threshold: unknown key (did you mean approval_threshold?)`.

Contract models ignore unknown fields (`extra="ignore"`): an event from a newer producer must
still be read. Where people write documents (a company file, an admin body), a misspelled key
would silently drop what it meant to set; there `unknown_keys` is asked first and its answer
refused. The walk follows the model's fields: nested models, tuples and lists of them, dict
values, optional fields and unions of models (a discriminated one by its tag, `kind`).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

Location = tuple[str | int, ...]
_SEQUENCES = (list, tuple, set, frozenset)


@dataclass(frozen=True)
class UnknownKey:
    """A key the model does not know, at `location` (its last part is the key itself)."""

    location: Location
    suggestion: str | None

    @property
    def key(self) -> str:
        return str(self.location[-1])

    @property
    def message(self) -> str:
        hint = f" (did you mean {self.suggestion}?)" if self.suggestion else ""
        return f"unknown key{hint}"

    @property
    def path(self) -> str:
        """As a company file names it: `departments[3].aproval_threshold`."""
        return file_path(self.location)

    @property
    def field(self) -> str:
        """As the HTTP API names a field: `bill_of_materials.0.sku`."""
        return ".".join(str(part) for part in self.location)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def file_path(location: Location) -> str:
    """`departments[3].aproval_threshold` for ("departments", 3, "aproval_threshold")."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "$"


def unknown_keys(model: type[BaseModel], data: Any) -> list[UnknownKey]:
    """Every key of `data` (parsed JSON or YAML) that `model` does not know, in document
    order. Values of the wrong shape are left alone: validating the model reports them."""
    return list(_walk(model, data, ()))


def closest(key: str, known: list[str]) -> str | None:
    """The known key `key` most likely means, if any is close enough: the same but for case,
    else the closest by difflib, else one it abbreviates (`qty` for `quantity`)."""
    folded = {name.lower(): name for name in known}
    if key.lower() in folded:
        return folded[key.lower()]
    found = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if found:
        return found[0]
    abbreviated = sorted((n for n in known if _abbreviates(key.lower(), n.lower())), key=len)
    return abbreviated[0] if abbreviated else None


def _abbreviates(short: str, name: str) -> bool:
    """`short` is `name`'s first letter and then some of its letters, in order."""
    if len(short) < 2 or not name.startswith(short[0]):
        return False
    letters = iter(name)
    return all(char in letters for char in short)


def _input_names(model: type[BaseModel]) -> dict[str, Any]:
    """The keys a document may use for the model's fields (alias and name), to their types."""
    names: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = _with_discriminator(info.annotation, info.discriminator)
        names[name] = annotation
        if isinstance(info.alias, str):
            names[info.alias] = annotation
        if isinstance(info.validation_alias, str):
            names[info.validation_alias] = annotation
    return names


def _with_discriminator(annotation: Any, discriminator: Any) -> Any:
    if isinstance(discriminator, str):
        return Annotated[annotation, _Tag(discriminator)]
    return annotation


@dataclass(frozen=True)
class _Tag:
    """The field of a union's members that names the member (`kind`)."""

    name: str


def _walk(model: type[BaseModel], data: Any, location: Location) -> Iterator[UnknownKey]:
    if not isinstance(data, Mapping):
        return
    names = _input_names(model)
    known = sorted(names)
    keeps_any = model.model_config.get("extra") == "allow"  # no key is unknown to it
    for key, value in data.items():
        if not isinstance(key, str) or (key not in names and keeps_any):
            continue
        if key not in names:
            yield UnknownKey((*location, key), closest(key, known))
            continue
        yield from _walk_value(names[key], value, (*location, key))


def _walk_value(annotation: Any, value: Any, location: Location) -> Iterator[UnknownKey]:
    tag: str | None = None
    while get_origin(annotation) is Annotated:
        annotation, *metadata = get_args(annotation)
        for item in metadata:
            if isinstance(item, _Tag):
                tag = item.name
            elif isinstance(getattr(item, "discriminator", None), str):
                tag = item.discriminator
    origin = get_origin(annotation)
    if _is_model(annotation):
        yield from _walk(annotation, value, location)
    elif origin in (Union, types.UnionType):
        yield from _walk_union(get_args(annotation), tag, value, location)
    elif origin in _SEQUENCES and isinstance(value, list | tuple):
        for index, item in enumerate(value):
            member = _item_type(annotation, index)
            if member is not None:
                yield from _walk_value(member, item, (*location, index))
    elif origin is dict and isinstance(value, Mapping) and len(get_args(annotation)) == 2:
        values = get_args(annotation)[1]
        for key, item in value.items():
            yield from _walk_value(values, item, (*location, str(key)))


def _item_type(annotation: Any, index: int) -> Any:
    """The type of a collection's `index`th item: `tuple[A, ...]`, `list[A]`, `tuple[A, B]`."""
    args = get_args(annotation)
    if get_origin(annotation) is tuple and args and args[-1] is not Ellipsis:
        return args[index] if index < len(args) else None
    return args[0] if args else None


def _walk_union(
    members: tuple[Any, ...], tag: str | None, value: Any, location: Location
) -> Iterator[UnknownKey]:
    models = [m for m in members if _is_model(m)]
    if isinstance(value, Mapping) and models:
        yield from _walk_models(models, tag, value, location)
        return
    fitting = next((m for m in members if not _is_model(m) and _fits(m, value)), None)
    if fitting is not None:
        yield from _walk_value(fitting, value, location)


def _walk_models(
    models: list[type[BaseModel]], tag: str | None, value: Mapping[Any, Any], location: Location
) -> Iterator[UnknownKey]:
    chosen = _member_by_tag(models, tag, value)
    if chosen is not None:
        yield from _walk(chosen, value, location)
        return
    # No tag to go by (or an unknown one, which validating the model reports): the member the
    # document fits best, and of its own keys only those no member knows are unknown.
    fewest = min((list(_walk(m, value, location)) for m in models), key=len)
    known_anywhere = sorted({name for m in models for name in _input_names(m)})
    for unknown in fewest:
        if len(unknown.location) > len(location) + 1:
            yield unknown
        elif unknown.key not in known_anywhere:
            yield UnknownKey(unknown.location, closest(unknown.key, known_anywhere))


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _fits(annotation: Any, value: Any) -> bool:
    """Whether a value has the shape of a (non-model) type the walk goes into."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    origin = get_origin(annotation)
    if origin in _SEQUENCES:
        return isinstance(value, list | tuple)
    return origin is dict and isinstance(value, Mapping)


def _member_by_tag(
    models: list[type[BaseModel]], tag: str | None, value: Mapping[Any, Any]
) -> type[BaseModel] | None:
    tags = [tag] if tag else _common_literal_fields(models)
    for name in tags:
        for model in models:
            info = model.model_fields.get(name)
            if (
                info is not None
                and get_origin(info.annotation) is Literal
                and value.get(name) in get_args(info.annotation)
            ):
                return model
    return None


def _common_literal_fields(models: list[type[BaseModel]]) -> list[str]:
    """Fields every member declares as a Literal: a tag even when none is declared."""
    first, *rest = models
    return [
        name
        for name, info in first.model_fields.items()
        if get_origin(info.annotation) is Literal
        and all(
            name in m.model_fields and get_origin(m.model_fields[name].annotation) is Literal
            for m in rest
        )
    ]
