"""Registries: one name -> object table per kind, shared by Python, CLI and recipes."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Generic, TypeVar

from medprune.errors import MedpruneError, UnknownNameError

T = TypeVar("T")


class RegistryError(MedpruneError):
    """A name registered twice."""


class Registry(Generic[T]):
    """Names mapped to objects of one kind, with did-you-mean lookups."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise RegistryError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"choose one of {', '.join(self.names())}"
            raise UnknownNameError(f"unknown {self.kind} '{name}': {hint}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
