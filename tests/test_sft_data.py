"""The SFT data builder (real clips from generated videos) and the validator (file:line reports)."""

from __future__ import annotations

import copy
import json
import random
import re

import numpy as np
import pytest

from sft_helpers import SMALL_VIDEO_ENV, expected_clip_indices
from videotemp_o3 import protocol
from videotemp_o3.segments import Segment, iou
from videotemp_o3.testing.videos import make_indexed_video, read_index
from videotemp_o3.training import sft_check
from videotemp_o3.training.annotations import read_annotations
from videotemp_o3.training.sft_check import validate_file
from videotemp_o3.training.sft_data import (BuildConfig, build_file, build_record, main,
                                            release_files)
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
