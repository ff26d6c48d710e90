"""The SFT data builder (real clips from generated videos) and the validator (file:line reports)."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re

import numpy as np
import pytest

from sft_helpers import SMALL_VIDEO_ENV, expected_clip_indices
from videotemp_o3 import mini, protocol
from videotemp_o3.segments import Segment, iou
from videotemp_o3.testing.videos import make_indexed_video, read_index
from videotemp_o3.training import sft_check
from videotemp_o3.training.annotations import read_annotations
from videotemp_o3.training.sft_check import validate_file
from videotemp_o3.training.sft_data import (MISTAKES, BuildConfig, build_file, build_record,
                                            calls_not_carried_out, main, release_files)
from videotemp_o3.training.swift_media import clip_budget
from videotemp_o3.video import VideoReader

decord = pytest.importorskip("decord")

FPS = 10.0
EVIDENCE = [14.0, 17.5]


@pytest.fixture(autouse=True)
def small_env(monkeypatch):
    for k, v in SMALL_VIDEO_ENV.items():
        monkeypatch.setenv(k, v)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    # 40 s at 10 fps: room for an imprecise first look around a 3.5 s event.
    return make_indexed_video(tmp_path_factory.mktemp("sftvideo") / "v.mp4", frames=400, fps=FPS,
                              size=(96, 160), gop=50)


@pytest.fixture
def annotations(video, tmp_path):
    rows = [
        {"video": video.name, "query": "the door opens", "span": EVIDENCE, "id": "g1"},
        {"video": video.name, "question": "What colour is the door?", "options": ["red", "green", "blue"],
         "answer": "(C)", "span": EVIDENCE, "id": "m1"},
        {"video": str(video), "question": "How many doors are there?", "answer": "2",
         "span": [3.0, 9.0], "id": "o1"},
    ]
    path = video.parent / f"ann_{tmp_path.name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_clip(path) -> np.ndarray:
    vr = decord.VideoReader(str(path))
    return vr.get_batch(list(range(len(vr)))).asnumpy()


def calls_and_clips(record):
    """(requested span, clip path) per tool call, pairing calls with videos in order."""
    spans = []
    for m in record["messages"]:
        if m["role"] == "assistant":
            call = protocol.parse_turn(m["content"]).tool_call
            if call is not None:
                spans += list(call.spans)
    return list(zip(spans, record["videos"][1:], strict=True))


@pytest.mark.parametrize("refine", [True, False], ids=["refine", "direct"])
def test_builder_clips_are_the_requested_spans(video, annotations, tmp_path, refine):
    reader = VideoReader(video)
    budget = clip_budget()
    anns, problems = read_annotations(annotations)
    assert problems == []
    for k, ann in enumerate(anns):
        record = build_record(ann, reader, random.Random(k), tmp_path / "clips",
                              refine=refine)
        pairs = calls_and_clips(record)
        assert len(pairs) == (2 if refine else 1)
        for span, path in pairs:
            _, h, w, _ = budget.plan(reader.num_frames, FPS, 96, 160, span.start, span.end)
            indices = expected_clip_indices(span.start, span.end, video_fps=FPS,
                                            total_frames=reader.num_frames, fps=budget.fps,
                                            min_frames=budget.min_frames,
                                            max_frames=budget.max_frames)
            frames = read_clip(path)
            # The clip file holds exactly the frames the sampling rule picks from [S, E].
            assert [read_index(f) for f in frames] == indices
            assert frames.shape[1:3] == (h, w)
            assert span.start <= indices[0] / FPS and indices[-1] / FPS <= span.end
        assert record["videos"][0] == str(video.resolve())


def test_refinement_trajectory_shape_and_masking(video, annotations, tmp_path):
    reader = VideoReader(video)
    (grounding, mcq, open_q), _ = read_annotations(annotations)
    assert mcq.answer == "C" and open_q.task == "open" and grounding.task == "grounding"
    for ann in (grounding, mcq, open_q):
        for seed in range(4):
            rng = random.Random(seed)
            record = build_record(ann, reader, rng, tmp_path / "clips", refine=True)
            msgs = record["messages"]
            assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant",
                                                 "user", "assistant"]
            (first, _), (second, _) = calls_and_clips(record)
            # Starts deliberately imprecise (evidence in view, IoU < τ), then refines (IoU ≥ τ).
            assert 0 < iou(first, ann.span) < 0.5 <= iou(second, ann.span)
            assert first.start <= ann.span.start and ann.span.end <= first.end
            assert first.start <= second.start and second.end <= first.end
            assert [m.get("loss") for m in msgs if m["role"] == "assistant"] == [False, True, True]
            # Each clip turn says its absolute span; the last one asks for the answer.
            assert msgs[3]["content"].startswith("<video>This clip is ")
            assert msgs[5]["content"].endswith(protocol.final_answer_request())
            assert not msgs[3]["content"].endswith(protocol.final_answer_request())
            final = protocol.parse_turn(msgs[-1]["content"])
            if ann.task == "grounding":
                assert protocol.parse_span(final.answer) == ann.span
            else:
                assert final.answer == ann.answer
            assert record["evidence"] == ann.span.as_list()
            assert record["duration"] == pytest.approx(reader.duration_seconds)


def test_two_turns_leave_no_room_to_refine(video, annotations, tmp_path):
    ann = read_annotations(annotations)[0][0]
    record = build_record(ann, VideoReader(video), random.Random(0), tmp_path / "clips",
                          BuildConfig(max_turns=2), refine=True)
    assert len(calls_and_clips(record)) == 1
    # The feedback to the last call allowed (turn 1 of 2) asks for the answer, as the agent does.
    assert record["messages"][3]["content"].endswith(protocol.final_answer_request())
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(record) + "\n")
    assert validate_file(path, max_turns=2)[1] == []


def test_build_file_is_seeded_and_valid(video, annotations, tmp_path):
    out_a, out_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    config = BuildConfig(refine_fraction=0.5, seed=7)
    report = build_file(annotations, out_a, tmp_path / "clips", config, progress=False)
    build_file(annotations, out_b, tmp_path / "clips", config, progress=False)
    assert out_a.read_text() == out_b.read_text()
    assert report.records == 3 and not report.problems
    assert report.clips == report.direct_calls + 2 * report.refined
    n, problems = validate_file(out_a)
    assert n == 3 and problems == []
    # A different seed draws different trajectories.
    build_file(annotations, out_b, tmp_path / "clips", BuildConfig(refine_fraction=0.5, seed=8),
               progress=False)
    assert out_a.read_text() != out_b.read_text()


# Tool-call spans of each record (g1, m1, o1) for seeds 0, 1, 2 under the default configuration,
# and a digest of all their messages, as the builder made them before recovery turns existed:
# recovery 0 (the default) must draw and write exactly what it always did.
BEFORE_RECOVERY = {
    0: ([[[9.0, 23.3], [14.1, 17.9]], [[8.7, 20.8], [14.3, 17.9]], [[1.3, 21.4], [2.9, 8.9]]],
        "586b60a8be7243b8"),
    1: ([[[13.5, 17.2]], [[13.6, 30.7], [14.2, 17.6]], [[0.6, 17.7], [2.2, 9.0]]],
        "2a281bbed863e0b9"),
    2: ([[[14.0, 18.1]], [[14.2, 18.0]], [[3.0, 9.4]]], "fb8a384bf8fa266f"),
}


def _read_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _call_spans(record) -> list[list[float]]:
    return [span.as_list() for span, _ in calls_and_clips(record)]


def test_recovery_is_off_by_default_and_changes_nothing_else(video, annotations, tmp_path):
    assert BuildConfig().recovery == 0.0
    for seed, (spans, digest) in BEFORE_RECOVERY.items():
        default, zero, half = (tmp_path / f"{name}{seed}.jsonl" for name in ("d", "z", "h"))
        build_file(annotations, default, tmp_path / "clips", BuildConfig(seed=seed), progress=False)
        build_file(annotations, zero, tmp_path / "clips", BuildConfig(seed=seed, recovery=0.0),
                   progress=False)
        records = _read_records(default)
        assert [_call_spans(r) for r in records] == spans
        messages = json.dumps([r["messages"] for r in records]).encode()
        assert hashlib.sha256(messages).hexdigest()[:16] == digest
        assert zero.read_text() == default.read_text()
        # With P > 0 the recovery draws come last: a record that draws none is the P = 0 one.
        report = build_file(annotations, half, tmp_path / "clips",
                            BuildConfig(seed=seed, recovery=0.5), progress=False)
        for before, after in zip(records, _read_records(half), strict=True):
            if not calls_not_carried_out(after["messages"]):
                assert after == before
        assert report.recovered + report.direct_calls + report.refined == 3


def _built_with_recovery(video, annotations, clips, seeds, **config) -> list[tuple[object, dict]]:
    reader = VideoReader(video)
    anns, _ = read_annotations(annotations)
    return [(ann, build_record(ann, reader, random.Random(f"{seed}:{ann.uid}"), clips,
                               BuildConfig(recovery=1.0, **config)))
            for ann in anns for seed in seeds]


@pytest.mark.parametrize("policy", ["unified", "last_two_rounds"])
def test_recovery_starts_with_a_rejected_call_then_a_valid_call_and_the_answer(
        video, annotations, tmp_path, policy):
    reader = VideoReader(video)
    duration = reader.duration_seconds
    min_length = BuildConfig().clip_tool().min_length(reader)
    kinds = set()
    built = _built_with_recovery(video, annotations, tmp_path / "clips", range(6), policy=policy)
    for ann, record in built:
        msgs = record["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant",
                                             "user", "assistant"]
        assistants = [m for m in msgs if m["role"] == "assistant"]
        assert len(assistants) == protocol.DEFAULT_MAX_TURNS
        # Turn 1: a call the protocol rejects, for one of the mistakes seen, inside the video;
        # answered by exactly the feedback the protocol composes for it, without a clip.
        first = protocol.parse_turn(msgs[2]["content"]).tool_call
        assert first is not None and first.error is None
        (mistake,) = first.spans
        assert 0.0 <= min(mistake.start, mistake.end) <= max(mistake.start, mistake.end) <= duration
        verdict = protocol.validate_call(first, duration, min_length, (), turn=1)
        assert isinstance(verdict, protocol.RejectedCall) and verdict.problem in MISTAKES
        kinds.add(verdict.problem)
        assert msgs[3]["content"] == protocol.tool_feedback(verdict)
        assert "<video>" not in msgs[3]["content"]
        # Turn 2: the accurate call, carried out; its feedback asks for the answer.
        second = protocol.parse_turn(msgs[4]["content"]).tool_call
        clips = protocol.validate_call(second, duration, min_length, (), turn=2)
        assert isinstance(clips, list) and iou(clips[0].segment, ann.span) >= 0.5
        assert msgs[5]["content"] == protocol.tool_feedback(clips, ask_final=True,
                                                            video_tag="<video>")
        assert len(record["videos"]) == 2 and record["videos"][1].endswith(
            f"_{clips[0].segment.start:.2f}-{clips[0].segment.end:.2f}_"
            + record["videos"][1].rsplit("_", 1)[-1])
        # Turn 3: the answer.
        assert protocol.parse_turn(msgs[6]["content"]).answer is not None
        # The mistake is never trained, in the builder's masking and in the all-rounds arm.
        assert [m["loss"] for m in assistants] == [False, True, True]
        assert calls_not_carried_out(msgs) == [2]
        trained_all = [m["loss"] for m in mini.all_rounds(record)["messages"]
                       if m["role"] == "assistant"]
        assert trained_all == [False, True, True]
    assert kinds == set(MISTAKES)
    # ms-swift's data as the validator reads it: every record passes.
    data = tmp_path / "recovery.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for _, r in built))
    assert validate_file(data) == (len(built), [])


def test_recovery_feedback_is_what_the_agent_sends(video, annotations, tmp_path):
    """Each built record replayed through the real agent loop (its own clip tool, video layer
    and protocol; the engine only says the record's assistant turns): every user turn the
    builder wrote is the one the agent sends in that position."""
    from videotemp_o3.agent import Agent, AgentConfig, Question
    from videotemp_o3.engines.base import Engine, Generation
    from videotemp_o3.video import FrameBudget

    class Replay(Engine):
        def __init__(self, replies):
            self.replies = list(replies)

        def generate(self, messages, **kw):
            return Generation(self.replies.pop(0), 0, 0, 0, 0.0, 0.0)

    config = BuildConfig()
    agent_config = AgentConfig(overview_budget=FrameBudget(nframes=4, max_pixels=6272,
                                                           min_pixels=3136),
                               clip_budget=clip_budget(max_frames=config.clip_max_frames))
    for ann, record in _built_with_recovery(video, annotations, tmp_path / "clips", range(3)):
        msgs = record["messages"]
        replies = [m["content"] for m in msgs if m["role"] == "assistant"]
        traj = Agent(Replay(replies), agent_config).run(
            video, Question(ann.text, ann.task, ann.options))
        assert traj.error is None, traj.error
        assert [t.text for t in traj.turns] == replies
        assert traj.turns[0].rejected is not None and not traj.turns[0].clips
        assert traj.turns[1].rejected is None and len(traj.turns[1].clips) == 1
        assert traj.answer == protocol.parse_turn(replies[-1]).answer
        sent = [m for m in traj.messages if m["role"] == "user"]
        built = [m["content"] for m in msgs if m["role"] == "user"]
        assert len(sent) == len(built) == 3
        for agent_turn, built_turn in zip(sent, built, strict=True):
            texts = "".join(p["text"] for p in agent_turn["content"] if p["type"] == "text")
            assert texts == built_turn.replace("<video>", "")
            assert sum(p["type"] == "video" for p in agent_turn["content"]) == \
                built_turn.count("<video>")
        assert traj.messages[0]["content"][0]["text"] == msgs[0]["content"]


def test_recovery_out_of_range_is_one_line_naming_the_flag(annotations, tmp_path, capsys):
    for value in ("1.5", "-0.1", "nan"):
        assert main(["build", str(annotations), "-o", str(tmp_path / "x.jsonl"),
                     "--recovery", value]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: --recovery {float(value)}: "), err
        assert "[0, 1]" in err[0]
    assert not (tmp_path / "x.jsonl").exists()
    with pytest.raises(ValueError, match="recovery must be a probability in"):
        BuildConfig(recovery=2.0)
    # In range, the CLI builds and counts the recovery trajectories.
    out = tmp_path / "r.jsonl"
    assert main(["build", str(annotations), "-o", str(out), "--clips-dir", str(tmp_path / "c"),
                 "--recovery", "1"]) == 0
    assert "0 refined, 3 recovering from a rejected call" in capsys.readouterr().out
    assert all(calls_not_carried_out(r["messages"]) == [2] for r in _read_records(out))


def test_validator_allows_a_rejected_call_only_untrained_and_without_clip(video, annotations,
                                                                          tmp_path):
    (_, record), = _built_with_recovery(video, annotations, tmp_path / "clips", [0])[:1]
    trained = copy.deepcopy(record)
    trained["messages"][2]["loss"] = True
    unmarked = copy.deepcopy(record)
    del unmarked["messages"][2]["loss"]
    with_clip = copy.deepcopy(record)
    with_clip["messages"][3]["content"] = "<video>" + with_clip["messages"][3]["content"]
    with_clip["videos"].insert(1, with_clip["videos"][1])
    assert sft_check.validate_record(record) == []
    for bad in (trained, unmarked):
        (reason,) = sft_check.validate_record(bad)
        assert reason.startswith("message 2: tool call rejected: ")
        assert reason.endswith('a rejected call may stay in the context only marked "loss": false')
    (reason,) = sft_check.validate_record(with_clip)
    assert reason.startswith("message 2: tool call rejected: ")
    assert reason.endswith("yet its feedback (message 3) holds a clip")


def _thinking(record) -> list[str]:
    return [re.sub(r"\d+(\.\d+)?", "#", protocol.parse_turn(m["content"]).think or "")
            for m in record["messages"] if m["role"] == "assistant"]


def test_fixed_wording_changes_only_the_phrasing(video, annotations, tmp_path):
    reader = VideoReader(video)
    mcq = read_annotations(annotations)[0][1]
    phrasings = {"varied": set(), "fixed": set()}
    for seed in range(12):
        records = {w: build_record(mcq, reader, random.Random(seed), tmp_path / "clips",
                                   BuildConfig(wording=w), refine=True)
                   for w in ("varied", "fixed")}
        # Same draws either way: the same calls, clips and answer.
        assert calls_and_clips(records["varied"]) == calls_and_clips(records["fixed"])
        assert records["varied"]["messages"][-1] == records["fixed"]["messages"][-1]
        for w, record in records.items():
            phrasings[w].add(tuple(_thinking(record)[:2]))
    assert len(phrasings["fixed"]) == 1
    assert len(phrasings["varied"]) > 1
    # The CLI passes it through.
    out = tmp_path / "fixed.jsonl"
    assert main(["build", str(annotations), "-o", str(out), "--clips-dir", str(tmp_path / "c"),
                 "--refine-fraction", "1", "--wording", "fixed"]) == 0
    firsts = {_thinking(json.loads(line))[0].split(" ")[0] for line in out.read_text().splitlines()}
    assert firsts == {"From"}


def test_without_tool_calls(video, annotations, tmp_path):
    out = tmp_path / "wo.jsonl"
    report = build_file(annotations, out, tmp_path / "clips", BuildConfig(with_tool_calls=False),
                        progress=False)
    assert report.no_tool == 3
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for r in records:
        assert [m["role"] for m in r["messages"]] == ["system", "user", "assistant"]
        assert len(r["videos"]) == 1 and r["messages"][2]["loss"] is True
    assert protocol.parse_span(protocol.parse_turn(records[0]["messages"][2]["content"]).answer) == \
        Segment(*EVIDENCE)
    assert validate_file(out)[1] == []


def test_bad_annotations_name_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"video": "v.mp4", "query": "x", "span": [5, 2]}\n'
                   '\n{"video": "v.mp4", "question": "q", "options": ["a", "b"], "answer": "E", '
                   '"span": [1, 2]}\n{"video": "v.mp4", "question": "q", "answer": "4"}\n')
    anns, problems = read_annotations(bad)
    assert anns == []
    shown = [str(p) for p in problems]
    assert shown[0] == f"{bad}:1: field 'span': start 5.0 is not before end 2.0"
    assert shown[1].startswith(f"{bad}:3: field 'answer': expected one of ['A', 'B']")
    assert shown[2].startswith(f"{bad}:4: field 'timestamp': missing: a question needs its "
                               "evidence span")


def test_unbuildable_annotation_is_skipped_with_its_line(video, tmp_path):
    ann = tmp_path / "ann.jsonl"
    ann.write_text(json.dumps({"video": str(video), "query": "late", "span": [38.0, 55.0]}) + "\n"
                   + json.dumps({"video": str(tmp_path / "gone.mp4"), "query": "x", "span": [1, 2]}) + "\n")
    report = build_file(ann, tmp_path / "o.jsonl", tmp_path / "clips", progress=False)
    assert report.records == 0
    shown = [str(p) for p in report.problems]
    assert shown[0] == f"{ann}:1: field 'span': span [38.0, 55.0] is not inside the video [0, 40.000]"
    assert shown[1].startswith(f"{ann}:2: field 'video': video not found") and "gone.mp4" in shown[1]


def test_release_layout():
    names = [str(p) for p in release_files("sft/data")]
    assert names[0] == "sft/data/wo_tool_call/activitynet.jsonl"
    assert names[-1] == "sft/data/wi_tool_call/qvhighlight.jsonl"
    assert len(names) == 8 and sum("wi_tool_call" in n for n in names) == 3


# ---------------------------------------------------------------------------------------------
# Validator
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def good_record(video, annotations, tmp_path):
    ann = read_annotations(annotations)[0][0]
    return build_record(ann, VideoReader(video), random.Random(0), tmp_path / "clips",
                        refine=True)


def bad_variants(good: dict, tmp_path) -> list[tuple[object, str]]:
    """(record, expected reason pattern) — one kind of fault each."""
    def variant(edit):
        r = copy.deepcopy(good)
        edit(r)
        return r

    def set_msg(k, text):
        return lambda r: r["messages"][k].__setitem__("content", text)

    answer = good["messages"][-1]["content"]
    first_call = good["messages"][2]["content"]
    return [
        (variant(lambda r: r["videos"].__setitem__(1, str(tmp_path / "nowhere.mkv"))),
         r"videos\[1\] not found: .*nowhere\.mkv"),
        (variant(lambda r: r["videos"].pop()), r"3 <video> tag\(s\) but 2 videos"),
        (variant(set_msg(2, "<think>look</think>\n<tool_call>{\"name\": \"get_video_clip_frame\", "
                            "\"arguments\": [{\"start_time\": 1.0</tool_call>")),
         r"message 2: malformed tool call: bad_json"),
        (variant(set_msg(6, "<think>done</think>\n<answer></answer>")),
         r"message 6: malformed turn: empty <answer>"),
        (variant(set_msg(6, "<think>done</think>\n<answer>C")),
         r"message 6: malformed turn: <answer> not closed"),
        (variant(set_msg(4, protocol.render_turn("x", segments=[(30.0, 75.0)]))),
         r"message 4: segment \[30\.0, 75\.0\] extends outside the video \(0 – 40\.0 s\)"),
        (variant(set_msg(4, protocol.render_turn("x", segments=[(50.0, 75.0)]))),
         r"message 4: tool call rejected: outside_video"),
        (variant(set_msg(4, protocol.render_turn("x", segments=[(20.0, 10.0)]))),
         r"message 4: tool call rejected: reversed"),
        (variant(set_msg(6, answer.replace("</think>", "<think>"))),
         r"message 6: broken think tags: a second <think> where </think> was meant"),
        (variant(set_msg(2, first_call.replace("<think>", ""))),
         r"message 2: broken think tags: </think> without an opening <think>"),
        (variant(lambda r: r["messages"][3].__setitem__("role", "tool")),
         r"message 3: role 'tool': tool feedback is a 'user' turn"),
        (variant(lambda r: r["messages"].insert(2, {"role": "user", "content": "again?"})),
         r"message 2: expected role 'assistant' \(user and assistant alternate"),
        (variant(lambda r: r["messages"].pop()), r"the last message must be the assistant's"),
        (variant(set_msg(6, "<think>x</think>\n<answer>[12.0, 95.0]</answer>")),
         r"message 6: answer '\[12\.0, 95\.0\]' lies outside the video"),
        (variant(lambda r: [m.__setitem__("loss", False) for m in r["messages"] if m["role"] == "assistant"]),
         r"no assistant round carries loss"),
        (variant(lambda r: r["messages"][1].__setitem__("loss", True)),
         r"message 1: 'loss' on a 'user' message has no effect"),
        (variant(lambda r: r.__setitem__("evidence", [35.0, 48.0])),
         r"evidence \[35\.0, 48\.0\] lies outside the video"),
        ("not json", r"invalid JSON"),
        # Replies that once escaped the parsers (issue #15): a report line each, not a stop.
        (variant(set_msg(2, "<think>x</think>\n<tool_call>" + "[" * 5000 + "</tool_call>")),
         r"message 2: malformed tool call: bad_json"),
        (variant(set_msg(6, "<think>x</think>\n<answer>[" + "9" * 5000 + ", 1]</answer>")),
         r"message 6: answer '\[9999.*(not a span|outside the video)"),
        (variant(set_msg(2, '<think>x</think>\n<tool_call>{"name": "get_video_clip_frame", "arguments": '
                            '[{"start_time": ' + "9" * 5000 + ', "end_time": 1}]}</tool_call>')),
         r"message 2: "),
    ]


def test_validator_reports_every_bad_record_with_file_and_line(good_record, tmp_path, capsys):
    variants = bad_variants(good_record, tmp_path)
    lines = [json.dumps(good_record)]
    expected = {}
    for record, pattern in variants:
        lines.append(record if isinstance(record, str) else json.dumps(record))
        expected[len(lines)] = pattern
    lines.append(json.dumps(good_record))
    data = tmp_path / "mixed.jsonl"
    data.write_text("\n".join(lines) + "\n")

    assert main(["validate", str(data)]) == 1
    out = capsys.readouterr()
    reported = out.out.splitlines()
    for lineno, pattern in expected.items():
        hits = [r for r in reported if r.startswith(f"{data}:{lineno}: ")]
        assert any(re.search(pattern, r) for r in hits), (lineno, pattern, hits)
    # Good records are not reported; the summary counts the bad ones.
    assert not any(r.startswith((f"{data}:1: ", f"{data}:{len(lines)}: ")) for r in reported)
    assert f"{data}: {len(lines)} records, {len(variants)} bad" in out.err


def test_validator_reports_non_utf8_lines_and_goes_on(good_record, tmp_path, capsys):
    data = tmp_path / "latin1.jsonl"
    good = json.dumps(good_record).encode()
    data.write_bytes(good + b"\n" + b'{"messages": "caf\xe9"}\n' + good + b"\n")
    assert main(["validate", str(data)]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [f"{data}:2: not UTF-8 text (byte 0xe9 at column 18); save the file as UTF-8"]
    assert f"{data}: 3 records, 1 bad" in out.err and "Traceback" not in out.err


def test_validator_accepts_good_data_and_checks_files_and_forms(good_record, tmp_path, capsys):
    data = tmp_path / "good.jsonl"
    data.write_text(json.dumps(good_record) + "\n")
    assert main(["validate", str(data)]) == 0
    # One file must use one form of video (pyarrow); a missing file is reported as such.
    frames = tmp_path / "f.png"
    frames.write_bytes(b"")
    listed = copy.deepcopy(good_record)
    listed["videos"] = [[str(frames)] for _ in listed["videos"]]
    data.write_text(json.dumps(good_record) + "\n" + json.dumps(listed) + "\n")
    n, problems = validate_file(data)
    assert any(p.line == 2 and "pyarrow cannot load both" in p.reason for p in problems)
    assert main(["validate", str(tmp_path / "absent.jsonl")]) == 1
    assert f"{tmp_path / 'absent.jsonl'}: no such file" in capsys.readouterr().out


def test_validator_checks_images_too(tmp_path):
    image = tmp_path / "frame.png"
    image.write_bytes(b"\x89PNG")
    record = {"messages": [{"role": "user", "content": "<image>" + protocol.mcq_prompt("q?", ["a", "b"])},
                           {"role": "assistant", "content": protocol.render_turn("t", answer="A"),
                            "loss": True}],
              "images": [str(image), str(tmp_path / "other.png")]}
    reasons = sft_check.validate_record(record)
    assert "1 <image> tag(s) but 2 images" in reasons
    assert any(r.startswith("images[1] not found") for r in reasons)
