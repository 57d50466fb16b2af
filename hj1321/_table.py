"""The common shape of every code table: a StrEnum whose members carry a Chinese label.

A member's value is its canonical code (what we store and what goes into the ledger); each
member also knows its Chinese name (``.label``). :meth:`CodeTable.parse` is the one lookup every
table shares: it accepts the code, the member name or the Chinese name (plus table-specific
aliases) and raises :class:`~hj1321.errors.InvalidValueError` with a Chinese reason otherwise.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from typing import ClassVar, Self

from hj1321.errors import InvalidValueError


def normalise_token(raw: str) -> str:
    """Fold a code or name for lookups: NFKC, trimmed, upper case, inner spaces removed."""
    return "".join(unicodedata.normalize("NFKC", raw).split()).upper()


class CodeTable(StrEnum):
    """Base of the code tables: value = canonical code, ``label`` = Chinese name.

    Subclasses name the table in their class keywords, e.g.
    ``class FuelType(CodeTable, table="fuel_type", title="燃料类型")``: ``table`` prefixes the
    machine error codes (``fuel_type.unknown``), ``title`` is the table's Chinese name used in
    messages. They may extend lookups with :meth:`_aliases`.
    """

    _label: str
    # Set by __init_subclass__ (plain class attributes would become enum members).
    TABLE: ClassVar[str]
    TITLE: ClassVar[str]

    def __init_subclass__(cls, *, table: str = "", title: str = "", **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        type.__setattr__(cls, "TABLE", table or cls.__name__.lower())
        type.__setattr__(cls, "TITLE", title or "代码")

    def __new__(cls, value: str, label: str = "") -> Self:
        """Create a member from ``(code, Chinese name)``."""
        obj = str.__new__(cls, value)
        obj._value_ = value
        object.__setattr__(obj, "_label", label)  # members are built here, before the enum is sealed
        return obj

    @property
    def label(self) -> str:
        """The Chinese name shown to people."""
        return self._label

    @property
    def code(self) -> str:
        """The canonical code (same as the value)."""
        return str(self.value)

    @classmethod
    def _aliases(cls) -> Mapping[str, CodeTable]:
        """Extra spellings accepted on input, keyed by their :func:`normalise_token` form."""
        return {}

    @classmethod
    def _index(cls) -> dict[str, CodeTable]:
        cached: dict[str, CodeTable] | None = cls.__dict__.get("_lookup_cache")
        if cached is not None:
            return cached
        index: dict[str, CodeTable] = {}
        for member in cls:
            index.setdefault(normalise_token(member.label), member)
            index.setdefault(normalise_token(member.name), member)
        for key, member in cls._aliases().items():
            index[normalise_token(key)] = member
        for member in cls:  # codes win over names and aliases
            index[normalise_token(member.value)] = member
        type.__setattr__(cls, "_lookup_cache", index)
        return index

    @classmethod
    def parse(cls, raw: object) -> Self:
        """Look a member up by code, member name, Chinese name or alias.

        Raises:
            InvalidValueError: ``<table>.empty`` or ``<table>.unknown`` with a Chinese reason.
        """
        if isinstance(raw, cls):
            return raw
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise InvalidValueError(f"{cls.TABLE}.type", f"{cls.TITLE}应为文本代码", raw)
        key = normalise_token(str(raw))
        if not key:
            raise InvalidValueError(f"{cls.TABLE}.empty", f"{cls.TITLE}为空", raw)
        member = cls._index().get(key)
        if not isinstance(member, cls):
            raise InvalidValueError(f"{cls.TABLE}.unknown", f"未知的{cls.TITLE}“{raw}”", raw)
        return member

    @classmethod
    def is_valid(cls, raw: object) -> bool:
        """Tell whether :meth:`parse` accepts ``raw``."""
        try:
            cls.parse(raw)
        except InvalidValueError:
            return False
        return True
