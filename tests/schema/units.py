"""Walk a JSON schema and list the numbers that carry no unit (shared by the unit tests)."""

from __future__ import annotations

from typing import Any, get_args

from markovlens.schema.common import Direction, Unit

UNITS = set(get_args(Unit))
DIRECTIONS = set(get_args(Direction))


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if isinstance(ref, str) else node


def problems(root: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    """Paths of numbers reached without an ``x-unit`` on the way, and malformed metadata.

    A property with ``x-unit`` covers everything under it (an Interval's estimate/low/high,
    a curve's values); a nested field may still name its own unit (a curve's positions).
    """
    found: list[str] = []

    def walk(node: Any, path: str, covered: bool, seen: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        if "x-unit" in node:
            if node["x-unit"] not in UNITS:
                found.append(f"{path}: unknown unit {node['x-unit']!r}")
            if node.get("x-direction", "higher") not in DIRECTIONS:
                found.append(f"{path}: unknown direction {node['x-direction']!r}")
            if not node.get("description"):
                found.append(f"{path}: a unit but no description")
            covered = True
        ref = node.get("$ref")  # beside x-unit and description: the referenced model
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                walk(_resolve(node, defs), path, covered, (*seen, name))
            return
        if node.get("type") in ("number", "integer") and not covered:
            found.append(f"{path}: no x-unit")
        for key in ("anyOf", "allOf", "oneOf"):
            for option in node.get(key, []):
                walk(option, path, covered, seen)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]", covered, seen)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}", covered, seen)
        for name, prop in node.get("properties", {}).items():
            walk(prop, f"{path}.{name}" if path else name, covered, seen)

    walk(root, "", False, ())
    return found
