"""Validate Bot API requests against the published API as data (`telegram-bot-api.json`, Bot API 10.1).

It rejects unknown methods, missing required fields, wrong JSON types, and breaks of the limits written
in the field descriptions (text 1-4096 characters after entity parsing, callback_data 1-64 bytes, ...).
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).with_name("telegram-bot-api.json")
_LIMIT = re.compile(r"(\d+)-(\d+) (characters|bytes)")
_TAG = re.compile(r"<[^>]+>")


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def _limits(description: str) -> tuple[int, int, str] | None:
    m = _LIMIT.search(description)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), m.group(3)


def _visible_length(text: str, parse_mode: str | None) -> int:
    if parse_mode and parse_mode.upper() == "HTML":
        text = html.unescape(_TAG.sub("", text))
    # Telegram counts UTF-16 code units after entity parsing.
    return len(text.encode("utf-16-le")) // 2


def validate_request(method: str, params: dict[str, Any]) -> list[str]:
    """Return the problems with one request; empty when Telegram would accept it."""
    methods = spec()["methods"]
    if method not in methods:
        return [f"unknown Bot API method {method!r}"]
    return _validate_fields(method, methods[method].get("fields", []), params, params.get("parse_mode"))


def _validate_fields(
    where: str, fields: list[dict[str, Any]], obj: dict[str, Any], parse_mode: str | None
) -> list[str]:
    # Fields the API does not know are ignored, as Telegram ignores them (python-telegram-bot sends
    # `parse_mode` with every send method when a default is set, sendContact included).
    problems: list[str] = []
    for name, required, types, limits in _compiled(fields):
        value = obj.get(name)
        if value is None:
            if required:
                problems.append(f"{where}: missing required field {name!r}")
            continue
        problems += _validate_value(f"{where}.{name}", types, value)
        if limits and isinstance(value, str):
            low, high, unit = limits
            size = (
                len(value.encode("utf-8"))
                if unit == "bytes"
                else _visible_length(value, parse_mode if name in ("text", "caption") else None)
            )
            if not low <= size <= high:
                problems.append(f"{where}.{name}: {size} {unit}, allowed {low}-{high}")
    return problems


_COMPILED: dict[int, tuple[tuple[str, bool, list[str], tuple[int, int, str] | None], ...]] = {}


def _compiled(fields: list[dict[str, Any]]) -> tuple[tuple[str, bool, list[str], tuple[int, int, str] | None], ...]:
    """Each field's name, whether required, types and length limit, read from the spec once per field list
    (the spec is loaded once and never changes, so its lists are stable)."""
    found = _COMPILED.get(id(fields))
    if found is None:
        found = _COMPILED[id(fields)] = tuple(
            (f["name"], bool(f["required"]), f["types"], _limits(f["description"])) for f in fields
        )
    return found


def _validate_value(where: str, types: list[str], value: Any) -> list[str]:
    attempts: list[list[str]] = []
    for type_name in types:
        found = _check_type(where, type_name, value)
        if not found:
            return []
        attempts.append(found)
    return min(attempts, key=len) if attempts else []


def _check_type(where: str, type_name: str, value: Any) -> list[str]:
    if type_name.startswith("Array of "):
        if not isinstance(value, list):
            return [f"{where}: expected an array"]
        inner = type_name[len("Array of ") :]
        problems: list[str] = []
        for i, item in enumerate(value):
            problems += _check_type(f"{where}[{i}]", inner, item)
        return problems
    if type_name == "Integer":
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{where}: expected Integer"]
    if type_name == "String":
        return [] if isinstance(value, str) else [f"{where}: expected String"]
    if type_name == "Boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected Boolean"]
    if type_name == "Float":
        return [] if isinstance(value, int | float) and not isinstance(value, bool) else [f"{where}: expected Float"]
    if type_name == "InputFile":
        return []
    types = spec()["types"]
    definition = types.get(type_name)
    if definition is None:
        return []  # a type the data does not describe; accept rather than guess
    if definition.get("subtypes"):
        return _validate_value(where, definition["subtypes"], value)
    if not isinstance(value, dict):
        return [f"{where}: expected {type_name} object"]
    return _validate_fields(f"{where}<{type_name}>", definition.get("fields", []), value, None)
