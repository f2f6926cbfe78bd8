"""A finding of the critic: what is wrong (or doubtful) in reward code, and on which line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Finding:
    """One reason to reject (``error``) or to look twice (``warning``)."""

    rule: str
    message: str
    line: int | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"[{self.rule}] {where}{self.message}"
