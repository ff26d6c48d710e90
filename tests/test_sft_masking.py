"""Unified masking through ms-swift's own per-message ``loss``, checked token by token.

The trajectories are encoded by ms-swift 3.10.3's real Qwen2.5-VL template (``get_template`` /
``template.encode`` in training mode) for the tiny model, with real clip files as videos, so the
labels are exactly those the trainer computes its loss on.
"""

from __future__ import annotations

import pytest

from sft_helpers import SMALL_VIDEO_ENV, label_spans, swift_template
from videotemp_o3 import protocol
from videotemp_o3.segments import Segment, iou
from videotemp_o3.testing.videos import make_indexed_video
from videotemp_o3.training.masking import apply_masking, evidence_of, round_losses
from videotemp_o3.training.swift_media import clip_for_swift, video_for_swift
from videotemp_o3.video import VideoReader

pytest.importorskip("swift")

EVIDENCE = Segment(6.0, 8.0)
IMPRECISE = Segment(2.0, 11.0)   # IoU 2/9 ≈ 0.22
REFINED = Segment(5.8, 8.2)      # IoU 2/2.4 ≈ 0.83
OFF = Segment(4.0, 7.0)          # IoU 1/4 = 0.25: a second call that still misses
END_OF_TURN = "<|im_end|>\n"     # Qwen's end of an assistant turn, as ms-swift labels it


@pytest.fixture(scope="module")
def template(tiny_model_dir):
    with swift_template(tiny_model_dir, SMALL_VIDEO_ENV) as t:
        yield t


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    # 12 s at 10 fps.
    return make_indexed_video(tmp_path_factory.mktemp("maskvideo") / "v.mp4", frames=120, fps=10.0,
                              size=(96, 160))


def trajectory(video, clips_dir, calls, answer="B") -> dict:
    """System, question, one assistant turn per call (each answered with its clip), the answer."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in SMALL_VIDEO_ENV.items():
            mp.setenv(k, v)
        reader = VideoReader(video)
        messages = [{"role": "system", "content": protocol.system_prompt()},
                    {"role": "user", "content": "<video>" + protocol.mcq_prompt(
                        "What colour is the square?", ["red", "green", "blue", "white"],
                        duration=reader.duration_seconds)}]
        videos = [video_for_swift(video)]
        for k, span in enumerate(calls, 1):
            messages.append({"role": "assistant", "content": protocol.render_turn(
                f"Looking at {span.start} to {span.end} seconds.", segments=[span])})
            videos.append(clip_for_swift(reader, span.start, span.end, None, clips_dir).path)
            feedback = protocol.clip_feedback([span], video_tag="<video>")
            if k == protocol.DEFAULT_MAX_TURNS - 1:
                feedback += protocol.final_answer_request()
            messages.append({"role": "user", "content": feedback})
        messages.append({"role": "assistant", "content": protocol.render_turn(
            "The square is green.", answer=answer)})
    return {"messages": messages, "videos": videos, "evidence": EVIDENCE.as_list()}


def assistant_texts(record) -> list[str]:
    return [m["content"] for m in record["messages"] if m["role"] == "assistant"]


def encode(template, record):
    enc = template.encode({k: record[k] for k in ("messages", "videos")})
    # Videos really went through: the clips' frames are in the batch.
    assert enc["video_grid_thw"].shape[0] == len(record["videos"])
    return enc


def test_spans_are_what_the_test_says():
    assert iou(IMPRECISE, EVIDENCE) < 0.5 <= iou(REFINED, EVIDENCE)
    assert iou(OFF, EVIDENCE) < 0.5


def test_unified_labels_refined_call_and_answer_only(template, video, tmp_path):
    record, reasons = apply_masking(trajectory(video, tmp_path, [IMPRECISE, REFINED]))
    assert [m.get("loss") for m in record["messages"]] == [None, None, False, None, True, None, True]
    assert [r.loss for r in reasons] == [False, True, True]

    enc = encode(template, record)
    imprecise, refined, answer = assistant_texts(record)
    # Exactly two labelled runs: the refined call and the answer, each with its end of turn.
    assert label_spans(template, enc) == [refined + END_OF_TURN, answer + END_OF_TURN]

    # The imprecise call is in the input, and every one of its tokens is masked.
    ids, labels = enc["input_ids"], enc["labels"]
    call_ids = template.tokenizer.encode(imprecise, add_special_tokens=False)
    start = _find(ids, call_ids)
    assert all(label == -100 for label in labels[start:start + len(call_ids) + 2])
    # User turns and media tokens never carry loss.
    video_pad = template.video_token_id
    assert all(label == -100 for token, label in zip(ids, labels) if token == video_pad)
    assert sum(label != -100 for label in labels) == len(
        template.tokenizer.encode(refined + END_OF_TURN + answer + END_OF_TURN, add_special_tokens=False))


def test_unified_when_the_second_call_still_misses(template, video, tmp_path):
    record, _ = apply_masking(trajectory(video, tmp_path, [IMPRECISE, OFF]))
    enc = encode(template, record)
    assert label_spans(template, enc) == [assistant_texts(record)[-1] + END_OF_TURN]


def test_last_two_rounds_setting(template, video, tmp_path):
    # The release's setting labels the last two rounds whatever their IoU.
    record, _ = apply_masking(trajectory(video, tmp_path, [IMPRECISE, OFF]), policy="last_two_rounds")
    texts = assistant_texts(record)
    assert label_spans(template, encode(template, record)) == [texts[1] + END_OF_TURN,
                                                              texts[2] + END_OF_TURN]
    # On the refinement trajectory both settings agree.
    a, _ = apply_masking(trajectory(video, tmp_path, [IMPRECISE, REFINED]), policy="last_two_rounds")
    b, _ = apply_masking(trajectory(video, tmp_path, [IMPRECISE, REFINED]), policy="unified")
    assert label_spans(template, encode(template, a)) == label_spans(template, encode(template, b))


def test_explicit_marks_win(template, video, tmp_path):
    raw = trajectory(video, tmp_path, [IMPRECISE, REFINED])
    raw["messages"][2]["loss"] = True    # the data says: train the exploratory call too
    raw["messages"][4]["loss"] = False   # … and not the refined one
    record, reasons = apply_masking(raw)
    assert [r.reason for r in reasons][:2] == ["marked in the data", "marked in the data"]
    texts = assistant_texts(record)
    assert label_spans(template, encode(template, record)) == [texts[0] + END_OF_TURN,
                                                              texts[2] + END_OF_TURN]
    # reset=True recomputes from the policy.
    record, _ = apply_masking(raw, reset=True)
    assert [m.get("loss") for m in record["messages"] if m["role"] == "assistant"] == [False, True, True]


def test_end_of_the_last_turn_is_always_trained(template, video, tmp_path):
    # ms-swift quirk (documented in masking.py): the last message's end of turn is a SUFFIX
    # context, which the per-message field does not reach.
    raw = trajectory(video, tmp_path, [IMPRECISE, REFINED])
    raw["messages"][-1]["loss"] = False
    record, _ = apply_masking(raw)
    assert label_spans(template, encode(template, record)) == [assistant_texts(record)[1] + END_OF_TURN,
                                                              END_OF_TURN]


@pytest.mark.parametrize("arm", ["unified", "all_rounds"])
def test_recovery_trajectory_never_trains_the_rejected_call(template, video, tmp_path, arm):
    """A built recovery trajectory (rejected call, its feedback, a valid call, the answer)
    through ms-swift's template: the rejected call is in the input and not one of its tokens is
    labelled, in the builder's masking and in the miniature's all-rounds arm."""
    import random

    from videotemp_o3 import mini
    from videotemp_o3.training.annotations import Annotation
    from videotemp_o3.training.sft_data import BuildConfig, build_record

    ann = Annotation(video=video, task="mcq", text="What colour is the square?",
                     options=("red", "green", "blue", "white"), answer="B", spans=(EVIDENCE,),
                     uid="r", where="test:1")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in SMALL_VIDEO_ENV.items():
            mp.setenv(k, v)
        record = build_record(ann, VideoReader(video), random.Random(0), tmp_path,
                              BuildConfig(recovery=1.0))
    if arm == "all_rounds":
        record = mini.all_rounds(record)
    rejected, valid, answer = assistant_texts(record)
    enc = encode(template, record)
    assert label_spans(template, enc) == [valid + END_OF_TURN, answer + END_OF_TURN]
    ids, labels = enc["input_ids"], enc["labels"]
    call_ids = template.tokenizer.encode(rejected, add_special_tokens=False)
    start = _find(ids, call_ids)
    assert all(label == -100 for label in labels[start:start + len(call_ids) + 2])
    # The rejection feedback is in the input too, as a user turn.
    feedback = template.tokenizer.encode(record["messages"][3]["content"], add_special_tokens=False)
    assert _find(ids, feedback) > start


def test_round_losses_rules():
    call = lambda s: protocol.render_turn("t", segments=[s])  # noqa: E731
    answer = protocol.render_turn("t", answer="B")
    turns = [call(IMPRECISE), call(REFINED), answer]
    assert [r.loss for r in round_losses(turns, EVIDENCE)] == [False, True, True]
    assert [r.loss for r in round_losses(turns, EVIDENCE, tau=0.9)] == [False, False, True]
    # A call with several segments counts its best one.
    multi = protocol.render_turn("t", segments=[IMPRECISE, REFINED])
    assert round_losses([multi, answer], EVIDENCE)[0].loss
    # Without evidence no call can be judged; a malformed turn never carries loss.
    assert [r.loss for r in round_losses(turns, None)] == [False, False, True]
    assert not round_losses(["<think>x</think><tool_call>{oops</tool_call>", answer], EVIDENCE)[0].loss
    with pytest.raises(ValueError, match="unknown masking policy"):
        round_losses(turns, EVIDENCE, policy="everything")  # type: ignore[arg-type]


def test_evidence_falls_back_to_the_grounding_answer():
    record = {"messages": [{"role": "user", "content": "q"},
                           {"role": "assistant", "content": protocol.render_turn("t", answer=EVIDENCE)}]}
    assert evidence_of(record) == EVIDENCE
    assert evidence_of({**record, "evidence": [1.0, 2.0]}) == Segment(1.0, 2.0)
    mcq = {"messages": [{"role": "assistant", "content": protocol.render_turn("t", answer="B")}]}
    assert evidence_of(mcq) is None


def test_masking_cli(tmp_path, capsys):
    import json

    from videotemp_o3.training.masking import main

    call = lambda s: protocol.render_turn("t", segments=[s])  # noqa: E731
    record = {"messages": [{"role": "user", "content": "q", "loss": True},
                           {"role": "assistant", "content": call(IMPRECISE)},
                           {"role": "user", "content": "f"},
                           {"role": "assistant", "content": call(REFINED)},
                           {"role": "user", "content": "f"},
                           {"role": "assistant", "content": protocol.render_turn("t", answer="B")}],
              "evidence": EVIDENCE.as_list()}
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(record) + "\n")
    assert main([str(src), "-o", str(dst)]) == 0
    out = json.loads(dst.read_text())
    assert [m.get("loss") for m in out["messages"]] == [None, False, None, True, None, True]
    assert "2 of 3 assistant rounds carry loss" in capsys.readouterr().out


def _find(haystack: list[int], needle: list[int]) -> int:
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i:i + len(needle)] == needle:
            return i
    raise AssertionError("token sequence not found in the encoded input")
