"""The package's type hints, checked as far as the standard library can (mypy is not installed here): every
public function, method and dataclass has complete annotations, and each one resolves to a real type."""

from __future__ import annotations

import inspect
import typing
import unittest

import warden


def _public_callables() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in warden.__all__:
        obj = getattr(warden, name)
        if inspect.isclass(obj):
            found.append((name, obj))
            if getattr(obj, "_is_protocol", False):
                continue  # a Protocol's own members are typing's
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr not in ("__init__",):
                    continue
                if isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member) or isinstance(member, (classmethod, staticmethod)):
                    found.append((f"{name}.{attr}", getattr(member, "__func__", member)))
        elif inspect.isfunction(obj):
            found.append((name, obj))
    return found


class TypingTests(unittest.TestCase):
    def test_every_public_annotation_is_complete_and_resolves(self) -> None:
        checked = 0
        for name, obj in _public_callables():
            if getattr(obj, "_is_protocol", False):
                continue
            hints = typing.get_type_hints(obj)  # raises NameError for an annotation naming nothing
            if inspect.isfunction(obj):
                sig = inspect.signature(obj)
                for pname, param in sig.parameters.items():
                    if pname in ("self", "cls") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                        continue
                    self.assertIn(pname, hints, f"{name}: parameter {pname} has no type hint")
                self.assertIn("return", hints, f"{name} has no return type")
            checked += 1
        self.assertGreater(checked, 40)

    def test_the_package_ships_its_type_marker(self) -> None:
        import importlib.resources

        self.assertTrue(importlib.resources.files("warden").joinpath("py.typed").is_file())


if __name__ == "__main__":
    unittest.main()
