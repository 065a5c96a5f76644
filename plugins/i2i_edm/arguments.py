"""Constructor arguments a class declares as a table of annotated class attributes.

EDM's preconditioners and networks are families of small variants that differ in a few
constructor arguments and their defaults. Each variant writes its own as class attributes,
one row each (``beta_d: float = 19.9  # extent of the noise level schedule``), and the family's
one constructor takes them by keyword: ``arguments`` reads the table, ``assign`` sets a call's
values on the instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def arguments(cls: type, root: type) -> dict[str, Any]:
    """The annotated class attributes of ``cls`` and its bases up to ``root``, with defaults.

    A subclass's row replaces its base's (same name, new default); the order is first
    declaration. An annotation without a value (an attribute the class sets itself) and the
    annotations above ``root`` (``nn.Module``'s own) are not arguments.
    """
    table: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if isinstance(klass, type) and issubclass(klass, root):
            for name in vars(klass).get("__annotations__", {}):
                if hasattr(cls, name):
                    table[name] = getattr(cls, name)
    return table


def assign(instance: object, root: type, given: Mapping[str, Any]) -> dict[str, Any]:
    """Set each table argument of ``instance`` from ``given`` (else its default); the rest back.

    What ``given`` holds beyond the table is returned untouched, for the caller to pass on or
    refuse.
    """
    table = arguments(type(instance), root)
    for name, default in table.items():
        setattr(instance, name, given.get(name, default))
    return {name: value for name, value in given.items() if name not in table}
