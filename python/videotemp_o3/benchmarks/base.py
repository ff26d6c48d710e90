"""The shapes every benchmark module fills in: :class:`Item`, :class:`Judgement`, :class:`Policy`,
:class:`ScoreOptions` and the declarative :class:`Benchmark` itself.

A benchmark module declares *where* its published files live, *how* to read them into
:class:`Item` s, *how* the official scorer extracts an answer from a response (``judge``) and
*which* numbers it reports (``report``). Nothing here knows about any one benchmark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Optional, Sequence

if TYPE_CHECKING:  # only for annotations; avoids an import cycle at runtime
    from .metrics import Report
    from .results import Response

AnswerType = Literal["mcq", "grounding", "open"]
Span = tuple[float, float]

# The package lives at <repo>/python/videotemp_o3/benchmarks; data defaults are relative to the
# repository (``eval/<bench>/data``). Installed elsewhere (a wheel), fall back to the working
# directory, which is where the release's scripts expect to be run from too.
_PACKAGE_REPO = Path(__file__).resolve().parents[3]
REPO_ROOT = _PACKAGE_REPO if (_PACKAGE_REPO / "pyproject.toml").is_file() else Path.cwd()


class BenchmarkError(Exception):
    """Base of every error this package raises on purpose; ``eval/score.py`` prints it and exits 2."""


class BenchmarkDataError(BenchmarkError):
    """A published benchmark file is missing or malformed. The message names the file, the
    line or row, and the field."""


class ResultsError(BenchmarkError):
    """A results file (ours or the release's) is malformed. The message names file:line."""


_OPTION_PREFIX = re.compile(r"^\s*\(?([A-Z])[.)]\s?")


@dataclass(frozen=True)
class Item:
    """One question of one benchmark, ready for the agent and for the scorer.

    - ``uid``: the benchmark's own question id as a string (docs/design.md §8); unique within a benchmark.
    - ``video``: absolute path under the data root (never outside it); it need not exist yet —
      loading annotations must work without the videos (the scorer needs no video).
    - ``question``: the question stem only. ``options``: rendered ``"A. text"`` lines, in order.
      ``prompt_text`` joins them the way every benchmark here presents a question.
    - ``answer``: the gold answer — an option letter for ``mcq``, the reference text for
      ``open``, ``None`` for ``grounding`` (the target is ``spans``).
    - ``spans``: ``[start, end]`` seconds; the grounding target (several for NExT-GQA, scored
      by the best match) or, for MCQ benchmarks that publish it, the evidence span.
    - ``fields``: what the breakdowns group by (duration bin, domain, task type, track, …).
    - ``images``: encoded images that belong in the prompt (Video-MMMU Adaptation: placed at the
      ``<image 1>`` marker, which stays in ``question``).
    - ``source``: ``file:line`` (or ``file row N``) of the record, for messages.
    """

    uid: str
    bench: str
    video: Path
    question: str
    options: tuple[str, ...] = ()
    answer: Optional[str] = None
    answer_type: AnswerType = "mcq"
    spans: tuple[Span, ...] = ()
    duration: Optional[float] = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    images: tuple[bytes, ...] = ()
    source: str = ""

    @property
    def letters(self) -> tuple[str, ...]:
        """Option letters in order: ``("A", "B", …)``."""
        return tuple(chr(ord("A") + i) for i in range(len(self.options)))

    @property
    def option_texts(self) -> tuple[str, ...]:
        """The options without their ``"A. "`` prefix (MMMU-style parsing matches on these)."""
        return tuple(_OPTION_PREFIX.sub("", o, count=1) for o in self.options)

    @property
    def prompt_text(self) -> str:
        """Question stem, then one option per line. The instruction wording around it lives in
        :mod:`videotemp_o3.protocol`; this is only the benchmark's own text."""
        return "\n".join((self.question, *self.options)) if self.options else self.question


Status = Literal["scored", "unparsed", "missing"]


@dataclass(frozen=True)
class Judgement:
    """What the official scorer makes of one item's response.

    ``status``: ``scored`` (an answer was extracted), ``unparsed`` (a response exists but the
    official extraction finds no answer in it), ``missing`` (no response for this uid at all).
    Whether unparsed/missing items enter a denominator is the :class:`Policy`'s business, not
    the judge's. ``correct`` is meaningful for mcq/open; ``iou``/``iop`` (0–1) for grounding.
    """

    status: Status
    parsed: Any = None
    correct: bool = False
    iou: float = 0.0
    iop: float = 0.0
    span: Optional[Span] = None


MISSING = Judgement("missing")


@dataclass(frozen=True)
class Policy:
    """Whether unparsed and missing items count (as wrong / IoU 0) or are left out of the
    denominators. Each benchmark declares the policy of its official scorer."""

    unparsed: Literal["exclude", "wrong"]
    missing: Literal["exclude", "wrong"]

    def counts(self, j: Judgement) -> bool:
        if j.status == "scored":
            return True
        rule = self.unparsed if j.status == "unparsed" else self.missing
        return rule == "wrong"

    def describe(self) -> str:
        words = {"exclude": "left out of the denominators", "wrong": "counted as wrong"}
        return f"unparsed answers {words[self.unparsed]}; missing predictions {words[self.missing]}"


@dataclass(frozen=True)
class ScoreOptions:
    """Scorer switches (``eval/score.py`` flags). Defaults reproduce the official scorers.

    - ``strict_threshold``: recall/IoP thresholds use ``>`` (the VideoTemp release) instead of
      ``≥`` (the official grounding scorers).
    - ``count_unparsed_as_wrong``: unparsed and missing answers count as wrong (lmms-eval's
      handling) wherever the official scorer leaves them out.
    - ``skip_missing``: score only the items that have a response (partial runs); applied after
      ``count_unparsed_as_wrong``.
    - ``lmms_eval``: use lmms-eval's answer extraction and policy where it differs from the
      official scorer (Video-MME, MLVU).
    """

    strict_threshold: bool = False
    count_unparsed_as_wrong: bool = False
    skip_missing: bool = False
    lmms_eval: bool = False


Judge = Callable[[Item, "Response", ScoreOptions], Judgement]
Reporter = Callable[[Sequence[Item], Mapping[str, Judgement], Policy, ScoreOptions], "Report"]
Reader = Callable[[Path, str], list[Item]]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark, declared: its files, how to read them, how to judge and report.

    ``read(root, name)`` reads the published files under ``root`` exactly as downloaded and
    returns items (``name`` lets two benchmarks share a reader: ``videotemp``/``videotemp-g``).
    ``judge(item, response, options)`` applies the official answer extraction to one response.
    ``report(items, judgements, policy, options)`` computes every breakdown number.
    """

    name: str
    title: str
    answer_type: AnswerType
    data_subdir: str
    files: tuple[str, ...]
    read: Reader
    judge: Judge
    report: Reporter
    policy: Policy
    lmms_eval_policy: Optional[Policy] = None
    description: str = ""

    def data_root(self, data_dir: "str | Path | None" = None) -> Path:
        """``data_dir`` if given, else ``<repo>/<data_subdir>`` (``eval/<bench>/data``)."""
        return Path(data_dir).expanduser().resolve() if data_dir else REPO_ROOT / self.data_subdir

    def load(self, data_dir: "str | Path | None" = None) -> list[Item]:
        """Read the published annotation files into items (videos need not be present)."""
        root = self.data_root(data_dir)
        if not root.is_dir():
            raise BenchmarkDataError(
                f"{self.name}: data directory {root} does not exist; download {', '.join(self.files)} "
                f"there or pass --data-dir")
        items = self.read(root, self.name)
        seen: dict[str, str] = {}
        for it in items:
            if it.uid in seen:
                raise BenchmarkDataError(
                    f"{it.source}: uid {it.uid!r} repeats the uid of {seen[it.uid]}; uids must be unique")
            seen[it.uid] = it.source
        return items

    def default_results(self) -> Path:
        """Where ``eval/run.py`` writes and ``eval/score.py`` reads results by default."""
        return REPO_ROOT / "eval" / self.name / "output" / "results.jsonl"

    def policy_for(self, options: ScoreOptions) -> Policy:
        policy = self.lmms_eval_policy if (options.lmms_eval and self.lmms_eval_policy) else self.policy
        if options.count_unparsed_as_wrong:
            policy = Policy("wrong", "wrong")
        if options.skip_missing:
            policy = Policy(policy.unparsed, "exclude")
        return policy
