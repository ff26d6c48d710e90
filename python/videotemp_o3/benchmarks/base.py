"""The shapes every benchmark module fills in: :class:`Item`, :class:`Judgement`, :class:`Policy`,
:class:`ScoreOptions`, :class:`Setting`, :class:`ReleaseFormat` and the declarative
:class:`Benchmark` itself.

A benchmark module declares *where* its published files live, *how* to read them into
:class:`Item` s, *how* the official scorer extracts an answer from a response (``judge``),
*which* numbers it reports (``report``), the switches only it understands (``settings``) and,
where the VideoTemp-o3 release evaluates it, how the release writes and scores its output
(``release``). Nothing here knows about any one benchmark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Optional, Sequence

if TYPE_CHECKING:  # only for annotations; avoids an import cycle at runtime
    from .metrics import Report
    from .results import Response, ResultsDocument

Task = Literal["mcq", "grounding", "open"]
"""The task kind of a question or a benchmark, one name everywhere in the project."""
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
    - ``task``: ``mcq``, ``grounding`` or ``open``.
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
    task: Task = "mcq"
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
Settings = Mapping[str, Any]
Reader = Callable[[Path, str, Settings], list[Item]]


@dataclass(frozen=True)
class Setting:
    """A command-line switch that only some benchmarks understand.

    ``flag`` is spelled as on the command line (``--mcq-only``); ``dest`` is its keyword in
    the settings mapping a reader receives. ``choices`` empty: an on/off switch (default
    off); else one of ``choices`` (default ``default``). ``scope``: ``data`` switches change
    which items are read or how they are asked (``eval/run.py`` and ``eval/score.py`` both take
    them: a run and its scoring must agree); ``score`` switches only change the scoring or the
    printed tables. Giving a switch to a benchmark that does not declare it is an error, not
    silently ignored.
    """

    flag: str
    help: str
    choices: tuple[str, ...] = ()
    default: Any = None
    scope: Literal["data", "score"] = "data"

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def off(self) -> Any:
        """The value meaning "not given"."""
        return self.default if self.choices else False


STRICT_THRESHOLD = Setting(
    "--strict-threshold", "grounding thresholds count IoU > t (the VideoTemp release) instead of >= t",
    scope="score")
LMMS_EVAL = Setting(
    "--lmms-eval", "lmms-eval's answer extraction and policy where it differs from the official scorer",
    scope="score")


@dataclass(frozen=True)
class ReleaseFormat:
    """How the VideoTemp-o3 release writes this benchmark's output file and how its
    ``eval/score.py`` scores it. Records are :class:`~.files.Record` s in the release's own
    field names, one per question.

    - ``output``: the release's default output path (relative to the repository), for messages.
    - ``render(item, response)``: our result for ``item`` as the release's record (``None``:
      the release never asks this question, e.g. Video-MMMU's open questions).
    - ``score(records, items)``: the release's rules and numbers, as a report whose tables
      print what the release prints. ``items`` is empty unless ``needs_items`` (the release's
      scorer reads the annotation file only for LVBench).
    - ``read(doc)``: the parsed file (:class:`~.results.ResultsDocument`) → records, a file
      that groups questions flattened; raises :class:`ResultsError` naming file:line (or
      ``file[i]``) for a record the release's scorer could not read. ``None``: the release
      writes nothing of its own.
    - ``uid_answer``: the release writes the generic ``{uid: answer}`` dict (LVBench); ``read``
      then takes that dict (answers as written, unstripped) for ``--release``.
    - ``key(record)`` / ``item_key(item)``: equal for a record and the item it answers (how a
      release file, which carries no uid, is matched to the benchmark's items).
    """

    output: str
    render: Callable[[Item, "Response"], Optional[dict[str, Any]]]
    score: Callable[[Sequence[Any], Sequence[Item]], "Report"]
    read: Optional[Callable[["ResultsDocument"], list[Any]]] = None
    key: Optional[Callable[[Any], Any]] = None
    item_key: Optional[Callable[[Item], Any]] = None
    needs_items: bool = False
    uid_answer: bool = False


@dataclass(frozen=True)
class Benchmark:
    """A benchmark, declared: its files, how to read them, how to judge and report.

    ``read(root, name, settings)`` reads the published files under ``root`` exactly as
    downloaded and returns items (``name`` lets two benchmarks share a reader:
    ``videotemp``/``videotemp-g``; ``settings`` holds the value of every ``data`` setting).
    ``judge(item, response, options)`` applies the official answer extraction to one response.
    ``report(items, judgements, policy, options)`` computes every breakdown number.
    ``group_by``: the item field (in ``fields``) whose values the first breakdown table groups
    questions by; the HTML report groups its question list and plots by it (``None``: by
    duration bin where the items have a duration).

    A module that defines a ``Benchmark`` at its top level is a benchmark: the registry finds
    it there (see :mod:`.registry`); nothing else needs an edit.
    """

    name: str
    title: str
    task: Task
    data_subdir: str
    files: tuple[str, ...]
    read: Reader
    judge: Judge
    report: Reporter
    policy: Policy
    lmms_eval_policy: Optional[Policy] = None
    settings: tuple[Setting, ...] = ()
    release: Optional[ReleaseFormat] = None
    group_by: Optional[str] = None
    description: str = ""

    def data_root(self, data_dir: "str | Path | None" = None) -> Path:
        """``data_dir`` if given, else ``<repo>/<data_subdir>`` (``eval/<bench>/data``)."""
        return Path(data_dir).expanduser().resolve() if data_dir else REPO_ROOT / self.data_subdir

    def resolve_settings(self, given: "Settings | None" = None) -> dict[str, Any]:
        """Every ``data`` setting's value: ``given`` over the defaults. A key the benchmark
        does not declare is an error (a switch meant for another benchmark)."""
        known = {s.dest: s for s in self.settings}
        values = {s.dest: s.off for s in self.settings if s.scope == "data"}
        for key, value in (given or {}).items():
            if key not in known:
                raise BenchmarkError(f"{self.name}: unknown setting {key!r}; it takes {sorted(known) or 'none'}")
            setting = known[key]
            if setting.choices and value not in setting.choices:
                raise BenchmarkError(f"{self.name}: {setting.flag} must be one of {', '.join(setting.choices)}, got {value!r}")
            if setting.scope == "data":
                values[key] = value
        return values

    def load(self, data_dir: "str | Path | None" = None, settings: "Settings | None" = None) -> list[Item]:
        """Read the published annotation files into items (videos need not be present).
        A file with no question at all is an error (an empty download is not a benchmark)."""
        root = self.data_root(data_dir)
        if not root.is_dir():
            raise BenchmarkDataError(
                f"{self.name}: data directory {root} does not exist; download {', '.join(self.files)} "
                f"there or pass --data-dir")
        try:
            items = self.read(root, self.name, self.resolve_settings(settings))
        except UnicodeDecodeError as e:  # csv / json readers decode whole files
            raise BenchmarkDataError(
                f"{self.name}: an annotation file under {root} is not UTF-8 text (byte 0x{e.object[e.start]:02x} "
                f"at offset {e.start}); save it as UTF-8") from None
        if not items:
            raise BenchmarkDataError(
                f"{self.name}: no questions in the annotation files under {root} ({', '.join(self.files)}); "
                "the download is empty or incomplete")
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
