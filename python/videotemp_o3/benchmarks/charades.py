"""Charades-STA (test): find the moment a sentence describes.

Published file: ``charades_sta_test.txt``, one query per line: ``VID S E##sentence``
(seconds); videos ``Charades_v1_480/<VID>.mp4``. uid: the 0-based line number (the file has
no query ids).

Scoring: the answer's first two times are the span (:func:`videotemp_o3.protocol.parse_span`);
R1@{0.3, 0.5, 0.7} (IoU ≥ t; ``--strict-threshold`` for >) and mIoU, every query counted
(unparsed and missing = IoU 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from .base import STRICT_THRESHOLD, Benchmark, BenchmarkDataError, Item, Judgement, Policy, ScoreOptions, Settings
from .files import checked_span, first_existing, read_text_lines, resolve_video
from .metrics import Report, Table, grounding, judge_span

FILES = ("charades_sta_test.txt",)


def read(root: Path, name: str, settings: Settings) -> list[Item]:
    path = first_existing(root, FILES, name)
    items = []
    for index, line, where in read_text_lines(path):
        if not line.strip():
            continue
        head, sep, sentence = line.rstrip("\r\n").partition("##")
        parts = head.split()
        if not sep or len(parts) != 3 or not sentence.strip():
            raise BenchmarkDataError(f"{where}: expected 'VID START END##sentence', got {line.strip()!r:.80}")
        vid, start, end = parts
        try:
            seconds = (float(start), float(end))
        except ValueError:
            raise BenchmarkDataError(f"{where}: START/END must be seconds, got {start!r} {end!r}") from None

        def fail(problem: str, where: str = where):
            raise BenchmarkDataError(f"{where}: START/END: {problem}")

        span = checked_span(*seconds, fail)
        items.append(Item(
            uid=str(index), bench=name,
            video=resolve_video(root, vid, ["Charades_v1_480/{}.mp4", "videos/{}.mp4", "{}.mp4"],
                                where, "VID"),
            question=sentence.strip(), task="grounding", spans=(span,),
            fields={"video_id": vid}, source=where))
    return items


def report(items: Sequence[Item], js: Mapping[str, Judgement], policy: Policy, options: ScoreOptions) -> Report:
    cell = grounding(js.values(), policy, strict=options.strict_threshold, prefix="R1@")
    table = Table("overall", "Charades-STA", ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU", "n"), [("overall", cell)])
    note = "R1@t counts IoU > t (strict)" if options.strict_threshold else "R1@t counts IoU ≥ t"
    return Report("charades", "Charades-STA", {k: cell[k] for k in table.columns[:-1]}, [table], notes=[note])


BENCHMARK = Benchmark(
    name="charades", title="Charades-STA", task="grounding", data_subdir="eval/charades/data",
    files=FILES, read=read, judge=judge_span, report=report,
    policy=Policy(unparsed="wrong", missing="wrong"), settings=(STRICT_THRESHOLD,),
    description=__doc__ or "",
)
