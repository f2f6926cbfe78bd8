"""Reading and writing records as the run store and the sandboxed children carry them: the helpers
every record's ``to_json`` and ``from_json`` share (a required field read with its name in the error,
plain records stored one key per field, rung tables keyed by strings)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar

from ...errors import RunStoreError


def _need(data, key: str, what: str):
    """``data[key]`` of a stored JSON object, or a RunStoreError naming the field and the record."""
    if not isinstance(data, dict):
        raise RunStoreError(f"{what} is stored as a {type(data).__name__}; expected a JSON object")
    if key not in data:
        raise RunStoreError(f"{what} has no {key!r} field (stored keys: {', '.join(map(str, data)) or 'none'})")
    return data[key]


class _Plain:
    """A record stored as a JSON object with one key for each field, in field order, every one required:
    the field's name, or ``KEYS[name]`` where the stored key differs. A field named in ``RECORDS`` holds
    a record, one in ``TABLES`` a ``{name: record}`` table of them and one in ``LISTS`` a list of them;
    ``WHAT`` names the record in a RunStoreError."""

    __dataclass_fields__: ClassVar[dict[str, Any]]  # every subclass is a dataclass (for ``fields``)
    WHAT = "a stored record"
    KEYS: dict = {}
    RECORDS: dict = {}
    TABLES: dict = {}
    LISTS: dict = {}

    def to_json(self) -> dict:
        return {self.KEYS.get(f.name, f.name): self._stored(f.name, getattr(self, f.name)) for f in fields(self)}

    def _stored(self, name: str, value):
        if name in self.RECORDS:
            return value.to_json()
        if name in self.TABLES:
            return {key: record.to_json() for key, record in value.items()}
        if name in self.LISTS:
            return [record.to_json() for record in value]
        return _copy(value)

    @classmethod
    def from_json(cls, data: dict):
        return cls(**{f.name: cls._read(f.name, _need(data, cls.KEYS.get(f.name, f.name), cls.WHAT))
                      for f in fields(cls)})

    @classmethod
    def _read(cls, name: str, stored):
        """One field's value from its stored JSON."""
        if name in cls.RECORDS:
            return cls.RECORDS[name].from_json(stored)
        if name in cls.TABLES or name in cls.LISTS:
            kind = dict if name in cls.TABLES else list
            if not isinstance(stored, kind):
                raise RunStoreError(f"{cls.WHAT}'s {name!r} is a {type(stored).__name__}; expected a JSON "
                                    f"{'object' if kind is dict else 'array'}")
            if isinstance(stored, dict):
                return {key: cls.TABLES[name].from_json(v) for key, v in stored.items()}
            return [cls.LISTS[name].from_json(v) for v in stored]
        return _copy(stored)


def _copy(value):
    """A deep copy of plain JSON data (lists and dicts), so a stored object never aliases a record."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _by_rung(values: dict[int, float]) -> dict[str, float]:
    return {str(r): v for r, v in sorted(values.items())}


def _rung_keys(stored: dict[str, float]) -> dict[int, float]:
    return {int(r): v for r, v in stored.items()}
