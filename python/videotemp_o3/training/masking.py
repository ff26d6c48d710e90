"""Unified masking: which assistant rounds of an SFT trajectory carry loss (docs/design.md §6).

User turns — the question and every tool feedback — never carry loss. An assistant round
carries loss iff

* the data marks it: an explicit ``"loss": true|false`` on the message wins; otherwise
* it answers (``<answer>…</answer>``), or
* it is a tool call whose best segment has IoU ≥ τ (default 0.5) with the evidence span.

Everything else — exploratory calls that missed the evidence, turns that neither answer nor
make a readable call — stays in the context without loss, so the model learns the accurate
call and the answer but not the detour. The release's ``last_two_rounds`` is the other
setting offered here: the last two assistant rounds carry loss, earlier ones do not.

The result is written into the data as ms-swift's own per-message field — ``"loss": true|false``
on every assistant message — which ms-swift 3.10.3 honours in
``swift/plugin/loss_scale/loss_scale.py`` (``LossScale.__call__``: a response whose message has
``loss`` gets that weight, overriding ``--loss_scale``); user messages get no field, and
ms-swift gives their tokens no loss. So training needs no plug-in, fork or patch of the
trainer, only ``--loss_scale default`` (what ``sft/sft.sh`` passes; ``all`` would also train the
user turns). Two details of ms-swift's encoding, both checked token by token in
``tests/test_sft_masking.py``:

* the end-of-turn tokens (``<|im_end|>\\n`` for Qwen) after a round with loss are trained too
  (``Template._add_dynamic_eos``), and those after a round without loss are not;
* the end-of-turn of the *last* message is always trained (its context type is SUFFIX, to which
  the per-message field does not apply) — harmless here, because the last round is the answer.

Evidence: the record's ``"evidence": [S, E]`` (seconds), else — for grounding data — the span
of the final ``<answer>``. Without either, tool calls carry loss only where the data marks them.

What each setting trains (the release trains with ``--loss_scale last_two_rounds``, its own
ms-swift plug-in, on data without per-message marks):

* ``last_two_rounds`` — the last two assistant rounds: on a refinement trajectory the refined call
  and the answer, on a direct one the call and the answer; an earlier, exploratory call does not.
* ``unified`` — the answer, and every call that found the evidence (IoU ≥ τ) wherever it is;
  calls that missed do not. On the release's 2- and 3-round trajectories with one imprecise
  first call both settings agree; they differ where a trajectory refines twice or its last call
  still misses.
* no marks and ``--loss_scale default`` — every assistant round, the detours too.

Command line (re-masks existing data, e.g. the release's, and reports what it did)::

    python -m videotemp_o3.training.masking IN.jsonl -o OUT.jsonl [--policy unified|last_two_rounds]
        [--tau 0.5] [--reset]

and, for ``sft/sft.sh``, the files to train on, with the marks a record lacks filled in by the
policy (a file whose every assistant round is marked is used as it is; others are copied with
the missing marks into DIR), one path per line on stdout and what was done on stderr::

    python -m videotemp_o3.training.masking --fill-missing DIR [--policy …] FILE...
"""

from __future__ import annotations

import argparse
import sys
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Sequence

from videotemp_o3.jsonl import JsonlError, dumps_line, iter_jsonl
from videotemp_o3.protocol import parse_span, parse_turn
from videotemp_o3.segments import Segment, SpanLike, iou

__all__ = ["DEFAULT_TAU", "POLICIES", "MaskingPolicy", "RoundReason", "apply_masking", "evidence_of",
           "FilledFile", "fill_missing",
           "round_losses"]

MaskingPolicy = Literal["unified", "last_two_rounds"]
POLICIES: tuple[str, ...] = ("unified", "last_two_rounds")
DEFAULT_TAU = 0.5


@dataclass(frozen=True)
class RoundReason:
    """Why one assistant round got (or did not get) loss; for reports and debugging."""

    loss: bool
    reason: str


def round_losses(turns: Sequence[str], evidence: Optional[SpanLike], *, policy: MaskingPolicy = "unified",
                 tau: float = DEFAULT_TAU,
                 explicit: Optional[Sequence[Optional[bool]]] = None) -> list[RoundReason]:
    """Loss of each assistant round, given the rounds' texts in order.

    ``evidence``: the annotated span in seconds, or None. ``explicit``: per round, the data's own
    mark (True/False) or None; a mark always wins.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown masking policy {policy!r}; choose one of {', '.join(POLICIES)}")
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {tau}")
    explicit = list(explicit) if explicit is not None else [None] * len(turns)
    if len(explicit) != len(turns):
        raise ValueError(f"{len(explicit)} explicit marks for {len(turns)} rounds")
    ev = Segment.of(evidence) if evidence is not None else None

    out = []
    for k, (text, mark) in enumerate(zip(turns, explicit)):
        if mark is not None:
            out.append(RoundReason(bool(mark), "marked in the data"))
        elif policy == "last_two_rounds":
            last_two = k >= len(turns) - 2
            out.append(RoundReason(last_two, "one of the last two rounds" if last_two else "an early round"))
        else:
            out.append(_unified(text, ev, tau))
    return out


def _unified(text: str, evidence: Optional[Segment], tau: float) -> RoundReason:
    turn = parse_turn(text)
    if turn.answer is not None:
        return RoundReason(True, "final answer")
    call = turn.tool_call
    if call is None or call.error is not None or not call.spans:
        # Never teach a malformed turn; it may stay in the context as the model's own mistake.
        return RoundReason(False, "neither an answer nor a readable tool call")
    if evidence is None:
        return RoundReason(False, "tool call, no evidence span to judge it")
    best = max(iou(span, evidence) for span in call.spans)
    if best >= tau:
        return RoundReason(True, f"tool call with IoU {best:.2f} >= {tau}")
    return RoundReason(False, f"tool call with IoU {best:.2f} < {tau}")


def evidence_of(record: dict) -> Optional[Segment]:
    """The evidence span of an ms-swift record: its ``evidence`` field, else the span the last
    assistant message answers (grounding data), else None."""
    value = record.get("evidence")
    if value is not None:
        seg = Segment.of(value)
        if not seg.is_valid():
            raise ValueError(f"evidence {value!r} is not a span [start, end] with start < end")
        return seg
    assistants = [m for m in record.get("messages", []) if m.get("role") == "assistant"]
    if assistants:
        answer = parse_turn(str(assistants[-1].get("content", ""))).answer
        answered = parse_span(answer)
        if answered is not None and answered.is_valid():
            return answered
    return None


def apply_masking(record: dict, *, policy: MaskingPolicy = "unified", tau: float = DEFAULT_TAU,
                  reset: bool = False) -> tuple[dict, list[RoundReason]]:
    """A copy of ``record`` with ``"loss"`` set on every assistant message, and the reasons.

    ``reset``: ignore the marks already in the data (recompute everything from the policy).
    Any ``loss`` on a non-assistant message is removed: ms-swift ignores it there, and leaving
    it would suggest otherwise.
    """
    messages = [dict(m) for m in record.get("messages", [])]
    assistants = [m for m in messages if m.get("role") == "assistant"]
    marks = [None if reset else m.get("loss") for m in assistants]
    reasons = round_losses([str(m.get("content", "")) for m in assistants], evidence_of(record),
                           policy=policy, tau=tau, explicit=marks)
    for message, reason in zip(assistants, reasons):
        message["loss"] = reason.loss
    for message in messages:
        if message.get("role") != "assistant":
            message.pop("loss", None)
    return {**record, "messages": messages}, reasons


def _unmarked(record: dict) -> bool:
    return any(m.get("role") == "assistant" and not isinstance(m.get("loss"), bool)
               for m in record.get("messages", []) if isinstance(m, dict))


@dataclass(frozen=True)
class FilledFile:
    """One SFT file as :func:`fill_missing` prepared it: ``used`` is what to train on (the
    source itself when nothing was missing); ``unmarked``: records that lacked a mark."""

    source: Path
    used: Path
    records: int
    unmarked: int
    rounds: int
    rounds_with_loss: int


def fill_missing(paths: Sequence[os.PathLike | str], out_dir: os.PathLike | str, *,
                 policy: MaskingPolicy = "last_two_rounds", tau: float = DEFAULT_TAU
                 ) -> list[FilledFile]:
    """The files to train on, with every assistant round's ``loss`` set: marks in the data are
    kept, missing ones come from ``policy``. A file with nothing missing is used in place; any
    other is copied into ``out_dir`` (``<parent>/<name>``, so the release's same-named files in
    ``wo_tool_call`` and ``wi_tool_call`` stay apart), atomically. Raises ``ValueError`` naming
    ``file:line`` for a record that cannot be masked, and :class:`JsonlError` for bad JSONL."""
    out_root = Path(out_dir)
    done: list[FilledFile] = []
    taken: set[Path] = set()
    for source in map(Path, paths):
        records = unmarked = rounds = with_loss = 0
        lines: list[str] = []
        for line in iter_jsonl(source):
            records += 1
            unmarked += _unmarked(line.value)
            try:
                masked, reasons = apply_masking(line.value, policy=policy, tau=tau)
            except (ValueError, TypeError, AttributeError) as e:
                raise ValueError(f"{line.where}: {e}") from None
            rounds += len(reasons)
            with_loss += sum(r.loss for r in reasons)
            lines.append(dumps_line(masked))
        used = source
        if unmarked:
            used = out_root / source.parent.name / source.name
            k = 1
            while used in taken:
                k += 1
                used = out_root / source.parent.name / f"{source.stem}.{k}{source.suffix}"
            taken.add(used)
            used.parent.mkdir(parents=True, exist_ok=True)
            tmp = used.with_name(used.name + ".tmp")
            tmp.write_text("".join(lines), encoding="utf-8")
            tmp.replace(used)
        done.append(FilledFile(source, used, records, unmarked, rounds, with_loss))
    return done


def _fill_main(a: argparse.Namespace) -> int:
    try:
        done = fill_missing(a.input, a.fill_missing, policy=a.policy, tau=a.tau)
    except (ValueError, JsonlError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    whose = " (the release's)" if a.policy == "last_two_rounds" else ""
    for f in done:
        if f.unmarked:
            what = (f"{f.unmarked} of {f.records} records without per-message loss: applied "
                    f"{a.policy}{whose} -> {f.used}")
        else:
            what = "every assistant round marked in the data: used as it is"
        print(f"{f.source}: {what}; {f.rounds_with_loss} of {f.rounds} assistant rounds carry "
              "loss", file=sys.stderr)
        print(f.used)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m videotemp_o3.training.masking",
        description="Set ms-swift's per-message loss on the assistant rounds of SFT data.")
    p.add_argument("input", nargs="+", help="ms-swift jsonl ({'messages': [...], 'videos': [...]})")
    p.add_argument("-o", "--output", help="where to write the masked jsonl (one input)")
    p.add_argument("--fill-missing", metavar="DIR",
                   help="set only the marks the data lacks, for every input; print the files to "
                        "train on (copies in DIR where something was missing)")
    p.add_argument("--policy", choices=POLICIES, default="unified")
    p.add_argument("--tau", type=float, default=DEFAULT_TAU,
                   help="IoU a tool call needs with the evidence span to carry loss (unified)")
    p.add_argument("--reset", action="store_true", help="ignore the loss marks already in the data")
    a = p.parse_args(argv)
    if a.fill_missing is not None:
        if a.output is not None or a.reset:
            p.error("--fill-missing takes neither -o nor --reset")
        return _fill_main(a)
    if a.output is None or len(a.input) != 1:
        p.error("give one input and -o OUTPUT (or --fill-missing DIR for several)")
    a.input = a.input[0]

    counts: Counter[str] = Counter()
    rounds = with_loss = records = 0
    out_lines = []
    try:
        for line in iter_jsonl(a.input):
            try:
                masked, reasons = apply_masking(line.value, policy=a.policy, tau=a.tau,
                                                reset=a.reset)
            except (ValueError, TypeError, AttributeError) as e:
                print(f"{line.where}: {e}", file=sys.stderr)
                return 1
            records += 1
            rounds += len(reasons)
            with_loss += sum(r.loss for r in reasons)
            counts.update(r.reason.split(" with IoU")[0] + (" (loss)" if r.loss else " (no loss)")
                          for r in reasons)
            out_lines.append(dumps_line(masked))
    except JsonlError as e:
        print(e, file=sys.stderr)
        return 1
    with open(a.output, "w", encoding="utf-8") as f:
        f.write("".join(out_lines))
    print(f"{a.output}: {records} records, {with_loss} of {rounds} assistant rounds carry loss "
          f"(policy {a.policy}, tau {a.tau})")
    for reason, n in counts.most_common():
        print(f"  {n:6d}  {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
