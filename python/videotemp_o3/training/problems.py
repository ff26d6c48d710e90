"""Problems found in data files: each names ``file:line``, the field and the reason, and a
validator reports all of them, not only the first (the SFT and RL validators, the annotation
reader and the builders share these)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from videotemp_o3.segments import Segment


@dataclass(frozen=True)
class DataProblem:
    """One thing wrong with one record: ``where`` is ``file:line`` (1-based)."""

    where: str
    field: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.field is None else \
            f"{self.where}: field {self.field!r}: {self.reason}"

    @property
    def line(self) -> int | None:
        """The 1-based line, when ``where`` names one."""
        tail = self.where.rsplit(":", 1)[-1]
        return int(tail) if tail.isdigit() else None


class DataError(ValueError):
    """Raised with every problem found; ``problems`` holds them."""

    def __init__(self, problems: Sequence[DataProblem], what: str = "data"):
        self.problems = list(problems)
        shown = "\n  ".join(str(p) for p in self.problems[:50])
        more = f"\n  … and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"{what}: {len(self.problems)} problem(s):\n  {shown}{more}")


class Checker:
    """Collects the problems of one record (also used by the annotation reader)."""

    def __init__(self, where: str, record: Mapping[str, Any], *, floats_only: bool = True):
        self.where = where
        self.record = record
        # Our RL rows write seconds as floats (their column contract); annotations may use ints.
        self.floats_only = floats_only
        self.problems: list[DataProblem] = []

    def fail(self, name: str | None, reason: str) -> None:
        self.problems.append(DataProblem(self.where, name, reason))

    def get(self, name: str, kinds: type | tuple[type, ...], what: str) -> Any:
        if name not in self.record or self.record[name] is None:
            self.fail(name, "missing")
            return None
        value = self.record[name]
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.fail(name, f"expected {what}, got {type(value).__name__} {value!r:.60}")
            return None
        return value

    def seconds(self, name: str, value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(name, f"expected seconds as a number, got {value!r:.40}")
            return None
        if isinstance(value, int) and self.floats_only:
            self.fail(name, f"write seconds as JSON floats ({value}.0, not {value}): ms-swift "
                            "types the column from the file, and an int64 column will not "
                            "concatenate with the float64 one of the other file")
            return None
        if not math.isfinite(value):
            self.fail(name, f"expected finite seconds, got {value!r}")
            return None
        return float(value)

    def span_value(self, name: str, value: Any) -> Segment | None:
        if not isinstance(value, list) or len(value) != 2:
            self.fail(name, f"expected [start, end] in seconds, got {value!r:.60}")
            return None
        s, e = self.seconds(name, value[0]), self.seconds(name, value[1])
        if s is None or e is None:
            return None
        if not s < e:
            self.fail(name, f"start {s} is not before end {e}")
            return None
        return Segment(s, e)

    def spans(self, name: str) -> tuple[list[Segment] | None, str | None]:
        """``[S, E]`` or ``[[S, E], …]``: the spans and the shape ("span" | "spans")."""
        value = self.get(name, list, "[start, end] in seconds, or a list of such spans")
        if value is None:
            return None, None
        if value and all(isinstance(v, list) for v in value):
            spans = [self.span_value(name, v) for v in value]
            return (None if None in spans else spans), "spans"  # type: ignore[return-value]
        span = self.span_value(name, value)
        return (None if span is None else [span]), "span"
