"""The validator of SFT data in ms-swift's format — ours or the release's — reporting every bad
record as ``file:line: reason`` (the builder is :mod:`videotemp_o3.training.sft_data`).

Checked per record: message shapes, roles and their alternation (tool feedback is a *user* turn),
``loss`` marks (assistant messages only; some round must carry loss), media tags against
``videos``/``images`` (counts, files, no media in assistant turns, one form of video per file),
the turns as the protocol reads them (think tags, one action, tool calls the agent would carry
out given the clips before them, answers and spans inside the video) and the ``evidence`` span.
A call the protocol rejects is allowed only as context — marked ``"loss": false`` (never trained)
and answered without a clip — within the turn limit: the recovery trajectories of
:mod:`videotemp_o3.training.sft_data` start with one.
Media are looked up once per path (:class:`~videotemp_o3.training.swift_media.MediaFiles`), where
ms-swift will read them.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Iterator, Optional

from videotemp_o3 import protocol
from videotemp_o3.jsonl import JsonlError, iter_jsonl
from videotemp_o3.protocol import CallProblem, Issue, RejectedCall, format_seconds, parse_turn, validate_call
from videotemp_o3.segments import Segment
from videotemp_o3.training.problems import DataProblem
from videotemp_o3.training.swift_media import MediaFiles, VideoInfo, overview_source

__all__ = ["validate_record", "validate_file", "validate_files"]

_TAGS = {"<video>": "videos", "<image>": "images"}
_THINK_ISSUES = frozenset({Issue.MISSING_THINK, Issue.EMPTY_THINK, Issue.THINK_WITHOUT_OPEN,
                           Issue.SECOND_THINK_AS_CLOSE, Issue.UNCLOSED_THINK, Issue.SEVERAL_THINKS})
_SPAN_ANSWER = re.compile(r"\s*\[\s*[-+]?[\d.eE+-]+\s*,\s*[-+]?[\d.eE+-]+\s*\]\s*")


def validate_record(record: object, *, media: Optional[MediaFiles] = None,
                    max_turns: int = protocol.DEFAULT_MAX_TURNS,
                    max_clips: int = protocol.MAX_CLIPS_PER_CALL) -> list[str]:
    """Every problem of one record, as reasons (empty: the record is good)."""
    media = media or MediaFiles()
    if not isinstance(record, dict):
        return ["a record must be a JSON object"]
    problems: list[str] = []
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["'messages' is missing or empty"]

    # Shape of each message, then roles and their alternation.
    for k, m in enumerate(messages):
        if not isinstance(m, dict):
            problems.append(f"message {k}: must be an object with 'role' and 'content'")
            continue
        if not isinstance(m.get("content"), str):
            problems.append(f"message {k}: 'content' must be a string")
        if "loss" in m:
            if not isinstance(m["loss"], bool):
                problems.append(f"message {k}: 'loss' must be true or false, got {m['loss']!r}")
            elif m.get("role") != "assistant":
                problems.append(f"message {k}: 'loss' on a {m.get('role')!r} message has no effect "
                                "(ms-swift applies it to assistant messages only)")
    if problems:
        return problems
    problems += _check_roles(messages)

    # Media: tag counts, files, and where the tags are.
    media_ok = True
    for tag, key in _TAGS.items():
        entries = record.get(key) or []
        if isinstance(entries, str):
            entries = [entries]
        if not isinstance(entries, list):
            problems.append(f"'{key}' must be a list of paths")
            media_ok = False
            continue
        n_tags = sum(m["content"].count(tag) for m in messages)
        if n_tags != len(entries):
            problems.append(f"{n_tags} {tag} tag(s) but {len(entries)} {key}")
            media_ok = False
        for k, m in enumerate(messages):
            if m.get("role") == "assistant" and tag in m["content"]:
                problems.append(f"message {k}: {tag} in an assistant message (ms-swift would put "
                                "media tokens into the response)")
        forms = {type(e).__name__ for e in entries}
        if len(forms) > 1:
            problems.append(f"'{key}' mixes paths and frame lists (pyarrow cannot load that)")
        for j, entry in enumerate(entries):
            files = entry if isinstance(entry, list) else [entry]
            for f in files:
                if not isinstance(f, str):
                    problems.append(f"{key}[{j}]: expected a path, got {f!r}")
                elif not media.exists(f):
                    problems.append(f"{key}[{j}] not found: {media.resolve(f)}")
                    media_ok = False

    # The video's length and frame interval, for the span checks.
    duration = record.get("duration")
    info: Optional[VideoInfo] = None
    entries = record.get("videos") or []
    if isinstance(entries, list) and entries and isinstance(entries[0], str) and media.exists(entries[0]):
        # A timed overview's first piece stands for its source video (swift_media).
        found = media.info(overview_source(entries[0]))
        if isinstance(found, str):
            problems.append(f"videos[0] is not a readable video: {media.resolve(entries[0])}")
        else:
            info = found
    if duration is not None and not (isinstance(duration, (int, float)) and duration > 0):
        problems.append(f"'duration' must be a positive number of seconds, got {duration!r}")
        duration = None
    if duration is None and info is not None:
        duration = info.duration
    min_length = protocol.min_clip_length(info.fps) if info is not None and info.fps > 0 else 0.0
    slack = max(min_length, 0.05)

    evidence = record.get("evidence")
    if evidence is not None:
        if (not isinstance(evidence, list) or len(evidence) != 2
                or not all(isinstance(x, (int, float)) for x in evidence)
                or not Segment.of(evidence).is_valid()):
            problems.append(f"'evidence' must be [start, end] with start < end, got {evidence!r}")
        elif duration is not None and (evidence[0] < -slack or evidence[1] > duration + slack):
            problems.append(f"evidence {evidence} lies outside the video (0 – {format_seconds(duration)} s)")

    problems += _check_turns(messages, duration, min_length, slack, max_turns, max_clips,
                             check_feedback=media_ok)
    assistants = [m for m in messages if m.get("role") == "assistant"]
    if assistants and all(m.get("loss") is False for m in assistants):
        problems.append("no assistant round carries loss")
    return problems


def _check_roles(messages: list[dict]) -> list[str]:
    problems = []
    body = messages
    if messages[0].get("role") == "system":
        body = messages[1:]
    for k, m in enumerate(messages):
        role = m.get("role")
        if role == "system" and k > 0:
            problems.append(f"message {k}: a system message is allowed only first")
        elif role in ("tool", "tool_response"):
            problems.append(f"message {k}: role {role!r}: tool feedback is a 'user' turn in our "
                            "protocol (ms-swift would wrap a tool role in its agent template)")
        elif role not in ("system", "user", "assistant"):
            problems.append(f"message {k}: unknown role {role!r}")
    if problems:
        return problems
    offset = len(messages) - len(body)
    for k, m in enumerate(body):
        want = "user" if k % 2 == 0 else "assistant"
        if m["role"] != want:
            problems.append(f"message {k + offset}: expected role {want!r} (user and assistant "
                            f"alternate, starting with user), got {m['role']!r}")
            return problems
    if not body or body[-1]["role"] != "assistant":
        problems.append("the last message must be the assistant's")
    return problems


def _check_turns(messages: list[dict], duration: Optional[float], min_length: float, slack: float,
                 max_turns: int, max_clips: int, *, check_feedback: bool) -> list[str]:
    problems = []
    assistant_idx = [k for k, m in enumerate(messages) if m.get("role") == "assistant"]
    shown: list[Segment] = []
    for turn, k in enumerate(assistant_idx, 1):
        text = messages[k]["content"]
        parsed = parse_turn(text)
        last = k == assistant_idx[-1]
        think = [i.value for i in parsed.issues if i in _THINK_ISSUES]
        other = [i.value for i in parsed.issues if i not in _THINK_ISSUES]
        if think:
            problems.append(f"message {k}: broken think tags: {'; '.join(think)}")
        if other:
            problems.append(f"message {k}: malformed turn: {'; '.join(other)}")
        if parsed.action == "answer":
            if not last:
                problems.append(f"message {k}: answers before the last round")
            if _SPAN_ANSWER.fullmatch(parsed.answer or "") and duration is not None:
                span = protocol.parse_span(parsed.answer)
                if span is None or not span.is_valid():
                    problems.append(f"message {k}: answer {parsed.answer!r} is not a span with start < end")
                elif span.start < -slack or span.end > duration + slack:
                    problems.append(f"message {k}: answer {parsed.answer!r} lies outside the video "
                                    f"(0 – {format_seconds(duration)} s)")
            continue
        call = parsed.tool_call
        if call is None:
            continue  # NO_ACTION is already reported as a malformed turn
        if last:
            problems.append(f"message {k}: the conversation ends with a tool call, not an answer")
        if call.error is not None:
            detail = f" ({call.detail})" if call.detail else ""
            problems.append(f"message {k}: malformed tool call: {call.error.value}{detail}")
            continue
        checked = validate_call(call, duration, min_length, shown, max_clips, turn=turn,
                                max_turns=max_turns)
        if isinstance(checked, RejectedCall):
            if checked.problem is not CallProblem.TURN_LIMIT and messages[k].get("loss") is False:
                # A mistake kept in the context for the model to recover from, never trained.
                if check_feedback and not last and "<video>" in messages[k + 1]["content"]:
                    problems.append(f"message {k}: tool call rejected: {checked.problem.value} "
                                    f"({checked.detail}), yet its feedback (message {k + 1}) "
                                    "holds a clip")
                continue
            problems.append(f"message {k}: tool call rejected: {checked.problem.value} "
                            f"({checked.detail}); a rejected call may stay in the context only "
                            "marked \"loss\": false")
            continue
        for req in checked:
            r = req.requested
            if duration is not None and (r.start < -slack or r.end > duration + slack):
                problems.append(f"message {k}: segment [{format_seconds(r.start)}, "
                                f"{format_seconds(r.end)}] extends outside the video "
                                f"(0 – {format_seconds(duration)} s)")
        shown += [c.segment for c in checked]
        if check_feedback and not last and k + 1 < len(messages):
            got = messages[k + 1]["content"].count("<video>")
            if got != len(checked):
                problems.append(f"message {k + 1}: the feedback holds {got} clip(s) for a call "
                                f"asking for {len(checked)}")
    return problems


def validate_file(path: os.PathLike | str, *, media: Optional[MediaFiles] = None,
                  max_turns: int = protocol.DEFAULT_MAX_TURNS,
                  max_clips: int = protocol.MAX_CLIPS_PER_CALL) -> tuple[int, list[DataProblem]]:
    """``(records read, problems)`` for one jsonl file; every bad record is reported."""
    media = media or MediaFiles()
    problems: list[DataProblem] = []
    n = 0
    form: Optional[tuple[str, int]] = None  # type of 'videos' entries, and where first seen
    try:
        lines = iter_jsonl(path, on_error="yield")
        for line in lines:
            n += 1
            if line.error is not None:
                problems.append(DataProblem(line.where, None, line.error))
                continue
            record = line.value
            reasons = validate_record(record, media=media, max_turns=max_turns,
                                      max_clips=max_clips)
            # pyarrow types a column by its first rows: one file must use one form of video.
            entries = record.get("videos")
            if isinstance(entries, list) and entries:
                kind = "path" if isinstance(entries[0], str) else "frame list"
                if form is None:
                    form = (kind, line.lineno)
                elif kind != form[0]:
                    reasons.append(f"videos given as a {kind}, but line {form[1]} gives a "
                                   f"{form[0]} (pyarrow cannot load both in one file)")
            problems += [DataProblem(line.where, None, r) for r in reasons]
    except JsonlError as e:
        problems.append(DataProblem(e.where, None, e.reason))
    return n, problems


def validate_files(paths: Iterable[os.PathLike | str], **kwargs
                   ) -> Iterator[tuple[str, int, list[DataProblem]]]:
    """``(file, records, problems)`` per file, with one media cache for all of them."""
    media = MediaFiles()
    for p in paths:
        n, problems = validate_file(p, media=media, **kwargs)
        yield str(p), n, problems
