"""The agent protocol: turn parsing, call validation, answers, prompts and feedback texts.

Expected values are written by hand from the texts in each row.
"""

from __future__ import annotations

import math
import re

import pytest

from videotemp_o3.protocol import (DEFAULT_MAX_TURNS, MAX_CLIPS_PER_CALL, TOOL_NAME,
                                   CallProblem, ClipRequest, Issue, RejectedCall, ToolCall,
                                   call_error_feedback, clip_feedback, final_answer_request,
                                   format_seconds, grounding_prompt, mcq_prompt, open_prompt,
                                   parse_choice, parse_clock, parse_span, parse_tool_call,
                                   parse_turn, render_answer, render_tool_call, render_turn,
                                   system_prompt, validate_call)
from videotemp_o3.segments import Segment

NAN = math.nan


def call_json(*spans: tuple[object, object], name: str = TOOL_NAME) -> str:
    """A tool-call block written out by hand (numbers inserted as given, e.g. "NaN")."""
    args = ", ".join(f'{{"start_time": {s}, "end_time": {e}}}' for s, e in spans)
    return f'<tool_call>{{"name": "{name}", "arguments": [{args}]}}</tool_call>'


def same_spans(got: tuple[Segment, ...], want: tuple[tuple[float, float], ...]) -> bool:
    def eq(a: float, b: float) -> bool:
        return (math.isnan(a) and math.isnan(b)) or a == b
    return len(got) == len(want) and all(eq(g.start, s) and eq(g.end, e)
                                         for g, (s, e) in zip(got, want))


# ---------------------------------------------------------------------------------------------
# parse_turn
# ---------------------------------------------------------------------------------------------

# id, text, think, answer, call spans (None: no call), call form, call error, issues, well_formed
TURNS = [
    ("answer", "<think>The dog shows up late.</think>\n<answer>B</answer>",
     "The dog shows up late.", "B", None, None, None, set(), True),
    ("call_json", "<think>Look closer.</think>\n" + call_json((58, 100)),
     "Look closer.", None, ((58.0, 100.0),), "json", None, set(), True),
    ("call_three_clips", "<think>t</think>" + call_json((1, 2), (3.5, 4), (10, 20)),
     "t", None, ((1.0, 2.0), (3.5, 4.0), (10.0, 20.0)), "json", None, set(), True),
    ("arguments_single_dict",
     '<think>t</think><tool_call>{"name": "get_video_clip_frame", '
     '"arguments": {"start_time": 5, "end_time": 9}}</tool_call>',
     "t", None, ((5.0, 9.0),), "json", None, set(), True),
    ("string_numbers", "<think>t</think>" + call_json(('"58.5"', '"100 s"')),
     "t", None, ((58.5, 100.0),), "json", None, set(), True),
    ("clock_strings", "<think>t</think>" + call_json(('"01:30"', '"2:00"')),
     "t", None, ((90.0, 120.0),), "json", None, set(), True),
    ("arguments_as_json_string",
     '<think>t</think><tool_call>{"name": "get_video_clip_frame", '
     '"arguments": "[{\\"start_time\\": 1, \\"end_time\\": 2}]"}</tool_call>',
     "t", None, ((1.0, 2.0),), "json", None, set(), True),
    ("short_form", "<think>t</think><tool_call>[58, 100]</tool_call>",
     "t", None, ((58.0, 100.0),), "short", None, {Issue.SHORT_FORM_CALL}, False),
    ("short_form_units", "<think>t</think><tool_call>[58.0s, 100s]</tool_call>",
     "t", None, ((58.0, 100.0),), "short", None, {Issue.SHORT_FORM_CALL}, False),
    ("short_form_two", "<think>t</think><tool_call>[[1, 2], [3, 4]]</tool_call>",
     "t", None, ((1.0, 2.0), (3.0, 4.0)), "short", None, {Issue.SHORT_FORM_CALL}, False),
    ("second_think_as_close", "<think>look again<think><answer>C</answer>",
     "look again", "C", None, None, None, {Issue.SECOND_THINK_AS_CLOSE}, False),
    ("second_think_then_call", "<think>a<think>\n" + call_json((1, 5)),
     "a", None, ((1.0, 5.0),), "json", None, {Issue.SECOND_THINK_AS_CLOSE}, False),
    ("dots_before_answer", "<think>x</think>..<answer>A</answer>",
     "x", "A", None, None, None, {Issue.STRAY_DOTS}, False),
    ("dots_before_think", "..<think>x</think><answer>A</answer>",
     "x", "A", None, None, None, {Issue.STRAY_DOTS}, False),
    ("dots_inside_think_are_fine", "<think>so it is A..</think><answer>A</answer>",
     "so it is A..", "A", None, None, None, set(), True),
    ("answer_open_at_end", "<think>x</think><answer>D",
     "x", "D", None, None, None, {Issue.UNCLOSED_ANSWER}, True),
    ("call_open_at_end",
     '<think>x</think><tool_call>{"name": "get_video_clip_frame", '
     '"arguments": [{"start_time": 3, "end_time": 8}]}',
     "x", None, ((3.0, 8.0),), "json", None, {Issue.UNCLOSED_CALL}, True),
    ("think_never_closed_then_answer", "<think>hmm <answer>A</answer>",
     "hmm", "A", None, None, None, {Issue.UNCLOSED_THINK}, False),
    ("truncated_in_think", "<think>still thinking",
     "still thinking", None, None, None, None, {Issue.UNCLOSED_THINK, Issue.NO_ACTION}, False),
    ("no_think", "<answer>B</answer>",
     None, "B", None, None, None, {Issue.MISSING_THINK}, False),
    ("think_without_open", "reasoning</think><answer>B</answer>",
     "reasoning", "B", None, None, None, {Issue.THINK_WITHOUT_OPEN}, False),
    ("tags_inside_think_are_reasoning",
     "<think>I could write <answer>A</answer> now</think><answer>B</answer>",
     "I could write <answer>A</answer> now", "B", None, None, None, set(), True),
    ("call_then_answer", "<think>t</think>" + call_json((1, 5)) + "<answer>A</answer>",
     "t", None, ((1.0, 5.0),), "json", None, {Issue.ANSWER_AND_CALL}, False),
    ("answer_then_call", "<think>t</think><answer>A</answer>" + call_json((1, 5)),
     "t", "A", None, None, None, {Issue.ANSWER_AND_CALL}, False),
    ("two_answers", "<think>t</think><answer>A</answer><answer>B</answer>",
     "t", "A", None, None, None, {Issue.SEVERAL_ANSWERS}, False),
    ("two_call_blocks", "<think>t</think>" + call_json((1, 5)) + call_json((6, 9)),
     "t", None, ((1.0, 5.0),), "json", CallProblem.SEVERAL_CALLS, set(), False),
    ("bad_json",
     '<think>t</think><tool_call>{"name": "get_video_clip_frame", "arguments": '
     '[{"start_time": 5,</tool_call>',
     "t", None, (), "json", CallProblem.BAD_JSON, set(), False),
    ("unknown_tool", "<think>t</think>" + call_json((1, 5), name="crop_video"),
     "t", None, ((1.0, 5.0),), "json", CallProblem.UNKNOWN_TOOL, set(), False),
    ("missing_arguments", '<think>t</think><tool_call>{"name": "get_video_clip_frame"}</tool_call>',
     "t", None, (), "json", CallProblem.BAD_ARGUMENTS, set(), False),
    ("word_for_number", "<think>t</think>" + call_json(('"soon"', 9)),
     "t", None, (), "json", CallProblem.BAD_ARGUMENTS, set(), False),
    ("nan_is_read_then_judged", "<think>t</think>" + call_json((5, "NaN")),
     "t", None, ((5.0, NAN),), "json", None, set(), True),
    ("extra_closing_brace", "<think>t</think>" + call_json((1, 5)).replace("]}", "]}}"),
     "t", None, ((1.0, 5.0),), "json", None, {Issue.TEXT_AFTER_JSON}, False),
    ("text_between_blocks", "<think>x</think>So the answer is <answer>B</answer>",
     "x", "B", None, None, None, {Issue.TEXT_OUTSIDE_TAGS}, False),
    ("empty_answer", "<think>x</think><answer> </answer>",
     "x", "", None, None, None, {Issue.EMPTY_ANSWER}, False),
    ("empty_think", "<think> </think><answer>B</answer>",
     "", "B", None, None, None, {Issue.EMPTY_THINK}, False),
    ("two_thinks", "<think>a</think><think>b</think><answer>B</answer>",
     "a\nb", "B", None, None, None, {Issue.SEVERAL_THINKS}, False),
    ("stray_closing_tag", "<think>x</think></answer><answer>B</answer>",
     "x", "B", None, None, None, {Issue.STRAY_CLOSING_TAG}, False),
    ("nothing", "I don't know.",
     None, None, None, None, None, {Issue.MISSING_THINK, Issue.NO_ACTION, Issue.TEXT_OUTSIDE_TAGS},
     False),
]


@pytest.mark.parametrize("text,think,answer,spans,form,error,issues,well_formed",
                         [row[1:] for row in TURNS], ids=[row[0] for row in TURNS])
def test_parse_turn(text, think, answer, spans, form, error, issues, well_formed):
    turn = parse_turn(text)
    assert turn.think == think
    assert turn.answer == answer
    if spans is None:
        assert turn.tool_call is None
    else:
        assert turn.tool_call is not None
        assert same_spans(turn.tool_call.spans, spans), turn.tool_call.spans
        assert turn.tool_call.form == form
        assert turn.tool_call.error == error
    assert set(turn.issues) == issues
    assert turn.well_formed is well_formed


def test_turn_action():
    assert parse_turn("<think>t</think><answer>B</answer>").action == "answer"
    assert parse_turn("<think>t</think>" + call_json((1, 2))).action == "tool_call"
    assert parse_turn("<think>t</think>").action == "none"


def test_parse_tool_call_never_raises_on_junk():
    for body in ["", "null", "42", '"text"', "{", "[1]", '{"name": 3, "arguments": [[1, 2, 3]]}',
                 '{"name": "get_video_clip_frame", "arguments": [true, false]}']:
        call = parse_tool_call(body)
        assert call.error is not None, body


# ---------------------------------------------------------------------------------------------
# validate_call
# ---------------------------------------------------------------------------------------------

def body(*spans: tuple[object, object], name: str = TOOL_NAME) -> ToolCall:
    return parse_turn("<think>t</think>" + call_json(*spans, name=name)).tool_call


# id, call, duration, min_length, previous, max_clips, turn, expected (clamped spans or problem)
CALLS = [
    ("ok", body((58, 100)), 600.0, 0.5, [], 3, 1, [(58.0, 100.0)]),
    ("whole_video_is_allowed", body((0, 600)), 600.0, 0.5, [], 3, 1, [(0.0, 600.0)]),
    ("start_before_zero_clamped", body((-5, 30)), 600.0, 0.5, [], 3, 1, [(0.0, 30.0)]),
    ("end_after_video_clamped", body((590, 700)), 600.0, 0.5, [], 3, 1, [(590.0, 600.0)]),
    ("exactly_one_frame", body((10, 10.5)), 600.0, 0.5, [], 3, 1, [(10.0, 10.5)]),
    ("three_clips", body((1, 2), (3, 4), (5, 6)), 600.0, 0.5, [], 3, 1,
     [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)]),
    ("unknown_duration_no_upper_clamp", body((5000, 6000)), None, 0.5, [], 3, 1,
     [(5000.0, 6000.0)]),
    ("near_but_not_same", body((58.3, 100)), 600.0, 0.5, [(58, 100)], 3, 2, [(58.3, 100.0)]),
    ("turn_before_limit", body((1, 5)), 600.0, 0.5, [], 3, DEFAULT_MAX_TURNS - 1, [(1.0, 5.0)]),
    ("reversed", body((100, 58)), 600.0, 0.5, [], 3, 1, CallProblem.REVERSED),
    ("empty", body((58, 58)), 600.0, 0.5, [], 3, 1, CallProblem.EMPTY),
    ("nan", body((5, "NaN")), 600.0, 0.5, [], 3, 1, CallProblem.NOT_FINITE),
    ("inf", body(("-Infinity", 5)), 600.0, 0.5, [], 3, 1, CallProblem.NOT_FINITE),
    ("nan_string", body(('"nan"', 5)), 600.0, 0.5, [], 3, 1, CallProblem.NOT_FINITE),
    ("after_the_end", body((700, 800)), 600.0, 0.5, [], 3, 1, CallProblem.OUTSIDE),
    ("starts_at_the_end", body((600, 610)), 600.0, 0.5, [], 3, 1, CallProblem.OUTSIDE),
    ("before_the_start", body((-20, -5)), 600.0, 0.5, [], 3, 1, CallProblem.OUTSIDE),
    ("shorter_than_a_frame", body((10, 10.2)), 600.0, 0.5, [], 3, 1, CallProblem.TOO_SHORT),
    ("short_after_clamping", body((599.8, 700)), 600.0, 0.5, [], 3, 1, CallProblem.TOO_SHORT),
    ("repeated", body((58, 100)), 600.0, 0.5, [(58, 100)], 3, 2, CallProblem.REPEATED),
    ("repeated_within_half_a_frame", body((58.1, 100)), 600.0, 0.5, [(58, 100)], 3, 2,
     CallProblem.REPEATED),
    ("repeated_after_clamping", body((-10, 30)), 600.0, 0.5, [(0, 30)], 3, 2, CallProblem.REPEATED),
    ("repeated_in_one_call", body((1, 5), (1, 5)), 600.0, 0.5, [], 3, 1, CallProblem.REPEATED),
    ("one_bad_clip_rejects_all", body((1, 5), (9, 7)), 600.0, 0.5, [], 3, 1, CallProblem.REVERSED),
    ("four_clips", body((1, 2), (3, 4), (5, 6), (7, 8)), 600.0, 0.5, [], 3, 1,
     CallProblem.TOO_MANY_CLIPS),
    ("two_clips_when_one_allowed", body((1, 2), (3, 4)), 600.0, 0.5, [], 1, 1,
     CallProblem.TOO_MANY_CLIPS),
    ("no_clips", parse_tool_call('{"name": "get_video_clip_frame", "arguments": []}'),
     600.0, 0.5, [], 3, 1, CallProblem.NO_CLIPS),
    ("unknown_tool", body((1, 5), name="zoom"), 600.0, 0.5, [], 3, 1, CallProblem.UNKNOWN_TOOL),
    ("bad_json", parse_tool_call('{"name": "get_video_clip_frame", "arguments": [{'),
     600.0, 0.5, [], 3, 1, CallProblem.BAD_JSON),
    ("bad_arguments", parse_tool_call('{"name": "get_video_clip_frame", "arguments": 5}'),
     600.0, 0.5, [], 3, 1, CallProblem.BAD_ARGUMENTS),
    ("several_blocks", parse_turn("<think>t</think>" + call_json((1, 5)) * 2).tool_call,
     600.0, 0.5, [], 3, 1, CallProblem.SEVERAL_CALLS),
    ("turn_limit", body((1, 5)), 600.0, 0.5, [], 3, DEFAULT_MAX_TURNS, CallProblem.TURN_LIMIT),
]


# What each rejection tells the model, written by hand (the wording, then the detail).
FEEDBACK_WORDING = {
    CallProblem.REVERSED: "a segment ends before it starts", CallProblem.EMPTY: "has no length",
    CallProblem.NOT_FINITE: "not a finite number", CallProblem.OUTSIDE: "lies outside the video",
    CallProblem.TOO_SHORT: "too short to hold a frame", CallProblem.REPEATED: "already seen",
    CallProblem.TOO_MANY_CLIPS: "more segments than one call allows",
    CallProblem.NO_CLIPS: "asks for no segment", CallProblem.UNKNOWN_TOOL: "no such tool",
    CallProblem.BAD_JSON: "not valid JSON", CallProblem.BAD_ARGUMENTS: "could not be read",
    CallProblem.SEVERAL_CALLS: "only one <tool_call> block",
}


@pytest.mark.parametrize("call,duration,min_length,previous,max_clips,turn,expected",
                         [row[1:] for row in CALLS], ids=[row[0] for row in CALLS])
def test_validate_call(call, duration, min_length, previous, max_clips, turn, expected):
    result = validate_call(call, duration, min_length, previous, max_clips, turn=turn)
    if isinstance(expected, CallProblem):
        assert isinstance(result, RejectedCall), result
        assert result.problem is expected
        feedback = result.feedback()
        if expected is CallProblem.TURN_LIMIT:
            assert feedback == final_answer_request()
        else:
            assert feedback.startswith("The tool call was not carried out: ")
            assert FEEDBACK_WORDING[expected] in feedback and result.detail in feedback
            assert "No clip was extracted" in feedback
    else:
        assert isinstance(result, list), result
        assert [c.segment.as_list() for c in result] == [list(e) for e in expected]


def test_clip_request_remembers_what_was_asked():
    (clip,) = validate_call(body((-5, 30)), 600.0, 0.5)
    assert clip.requested == Segment(-5.0, 30.0)
    assert clip.segment == Segment(0.0, 30.0)
    assert clip.clamped
    (clip,) = validate_call(body((5, 30)), 600.0, 0.5)
    assert not clip.clamped


def test_validate_without_turn_has_no_limit():
    assert isinstance(validate_call(body((1, 5)), 600.0, 0.5, turn=None), list)


def test_max_clips_default_is_three():
    assert MAX_CLIPS_PER_CALL == 3
    assert isinstance(validate_call(body((1, 2), (3, 4), (5, 6)), 60.0, 0.5), list)


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------

CHOICES = [
    ("B", 6, "B"), ("(B)", 6, "B"), ("B.", 6, "B"), (" B \n", 6, "B"), ("b", 6, "B"),
    ("B. A man runs", 6, "B"), ("B: the dog", 6, "B"), ("B) the dog", 6, "B"),
    ("B, because the dog barks", 6, "B"), ("The answer is C.", 6, "C"), ("Answer: D", 6, "D"),
    ("the correct option is (E)", 6, "E"), ("F", 6, "F"),
    ("B, C", 6, None), ("B or C", 6, None), ("(B) and (C)", 6, None), ("B/C", 6, None),
    ("option A or option B", 6, None), ("A man runs", 6, None), ("G", 6, None), ("", 6, None),
    ("E", 4, None), ("D", 4, "D"), (None, 6, None),
]


@pytest.mark.parametrize("text,n_options,expected", CHOICES)
def test_parse_choice(text, n_options, expected):
    assert parse_choice(text, n_options) == expected


SPANS = [
    ("[58.0, 100.5]", (58.0, 100.5)), ("58-100", (58.0, 100.0)), ("58 - 100 s", (58.0, 100.0)),
    ("from 1:30 to 2:00", (90.0, 120.0)), ("[-5, 10, 20]", (-5.0, 10.0)),
    ("clip2 3.5s to 7s", (3.5, 7.0)), ("[100, 58]", (100.0, 58.0)), ("[1e2, 2e2]", (100.0, 200.0)),
    ("0:01:05 - 0:01:10", (65.0, 70.0)), ("one", None), ("[12]", None), (None, None),
]


@pytest.mark.parametrize("text,expected", SPANS)
def test_parse_span(text, expected):
    got = parse_span(text)
    assert (got.as_list() if got else None) == (list(expected) if expected else None)


@pytest.mark.parametrize("text,expected", [("90", 90.0), ("1:30", 90.0), ("01:02:03", 3723.0),
                                            ("1:30.5", 90.5), ("1:75", None), ("a:b", None),
                                            ("1:2:3:4", None)])
def test_parse_clock(text, expected):
    assert parse_clock(text) == expected


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

def test_render_tool_call_is_the_canonical_json():
    assert render_tool_call([(58, 100)]) == (
        '<tool_call>{"name": "get_video_clip_frame", '
        '"arguments": [{"start_time": 58.0, "end_time": 100.0}]}</tool_call>')
    assert render_tool_call([Segment(1.234, 5.0), (7, 8.5)]) == (
        '<tool_call>{"name": "get_video_clip_frame", "arguments": '
        '[{"start_time": 1.23, "end_time": 5.0}, {"start_time": 7.0, "end_time": 8.5}]}</tool_call>')
    with pytest.raises(ValueError):
        render_tool_call([])


def test_rendered_turns_parse_back_well_formed():
    call = parse_turn(render_turn("Check the start.", segments=[(0, 12.5), (30, 40)]))
    assert call.well_formed and call.issues == ()
    assert call.tool_call.spans == (Segment(0.0, 12.5), Segment(30.0, 40.0))
    answer = parse_turn(render_turn("It is B.", answer="B"))
    assert answer.well_formed and answer.answer == "B" and answer.think == "It is B."
    span = parse_turn(render_turn("Found it.", answer=(58, 100.5)))
    assert span.answer == "[58.0, 100.5]"
    assert parse_span(span.answer) == Segment(58.0, 100.5)


def test_render_turn_needs_exactly_one_action():
    with pytest.raises(ValueError):
        render_turn("t")
    with pytest.raises(ValueError):
        render_turn("t", answer="A", segments=[(1, 2)])


def test_render_answer():
    assert render_answer("C") == "<answer>C</answer>"
    assert render_answer(Segment(3, 4.25)) == "<answer>[3.0, 4.25]</answer>"


@pytest.mark.parametrize("t,expected", [(58, "58.0"), (58.25, "58.25"), (0.5, "0.5"),
                                         (1234.567, "1234.57"), (100.0, "100.0")])
def test_format_seconds(t, expected):
    assert format_seconds(t) == expected


# ---------------------------------------------------------------------------------------------
# Prompts and feedback
# ---------------------------------------------------------------------------------------------

def test_system_prompt_describes_the_protocol():
    text = system_prompt()
    for needle in ("<think>", "</think>", "<answer>", "</answer>", "<tool_call>", TOOL_NAME,
                   "up to 3 segments"):
        assert needle in text
    assert "up to 2 segments" in system_prompt(max_clips=2)


def test_system_prompt_example_call_parses():
    example = re.search(r"<tool_call>\{.*?</tool_call>", system_prompt()).group(0)
    filled = example.replace("<seconds>", "10", 1).replace("<seconds>", "20", 1)
    turn = parse_turn("<think>t</think>" + filled)
    assert turn.well_formed
    assert turn.tool_call.spans == (Segment(10.0, 20.0),)


def test_system_prompt_from_file_is_verbatim(tmp_path):
    path = tmp_path / "released_prompt.txt"
    path.write_text("Line one {not a placeholder}\nLine two\n", encoding="utf-8")
    assert system_prompt(path) == "Line one {not a placeholder}\nLine two"


def test_mcq_prompt():
    text = mcq_prompt("What does the dog do?", ["A. barks", "(B) sits", "runs"], duration=600)
    assert "The video is 600.0 seconds long." in text
    assert "What does the dog do?" in text
    assert "(A) barks\n(B) sits\n(C) runs" in text
    assert "A. barks" not in text and "(B) (B)" not in text
    assert "(A–C)" in text
    assert "seconds long" not in mcq_prompt("q", ["x", "y"])
    six = mcq_prompt("q", list("uvwxyz"))
    assert "(F) z" in six and "(A–F)" in six
    ten = mcq_prompt("q", list("abcdefghij"))  # Video-MMMU has up to ten options
    assert "(J) j" in ten and "(A–J)" in ten
    with pytest.raises(ValueError):
        mcq_prompt("q", list("abcdefghijk"))
    with pytest.raises(ValueError):
        mcq_prompt("q", ["only one"])


def test_open_and_grounding_prompts():
    assert "How many cups?" in open_prompt("How many cups? ")
    g = grounding_prompt("the man opens the door", duration=30.5)
    assert "the man opens the door" in g and "[start, end]" in g and "30.5 seconds" in g


def test_clip_feedback_states_absolute_spans():
    one = clip_feedback([(58, 100)])
    assert "58.0 s – 100.0 s of the original video" in one
    clips = validate_call(body((-5, 30), (40, 50.5)), 600.0, 0.5)
    two = clip_feedback(clips, video_tag="<video>")
    assert two.count("<video>") == 2
    assert two.index("0.0 s – 30.0 s") < two.index("40.0 s – 50.5 s")


def test_error_feedback_names_the_problem_and_invites_to_continue():
    texts = set()
    for problem in CallProblem:
        if problem is CallProblem.TURN_LIMIT:
            continue
        text = call_error_feedback(RejectedCall(problem, "detail-xyz"))
        assert "not carried out" in text and "detail-xyz" in text and "Continue" in text
        texts.add(text)
    assert len(texts) == len(CallProblem) - 1  # each problem has its own wording


def test_error_feedback_mentions_the_bad_segment():
    rejected = validate_call(body((100, 58)), 600.0, 0.5)
    assert "[100.0, 58.0]" in rejected.feedback()
    outside = validate_call(body((700, 800)), 600.0, 0.5)
    assert "600.0" in outside.feedback()


def test_turn_limit_feedback_is_the_final_answer_request():
    rejected = validate_call(body((1, 5)), 600.0, 0.5, turn=3, max_turns=3)
    assert rejected.feedback() == final_answer_request()
    assert "<answer>" in final_answer_request()


def test_clip_request_is_a_segment_pair():
    clip = ClipRequest(Segment(1, 2), Segment(1, 2))
    assert clip_feedback([clip]) == clip_feedback([(1, 2)])


def test_tool_feedback_composes_one_turn():
    from videotemp_o3.protocol import (CallProblem, ClipRequest, RejectedCall, final_answer_request,
                                       missing_action_feedback, tool_feedback)
    from videotemp_o3.segments import Segment

    clip = [ClipRequest(Segment(58.0, 100.0), Segment(58.0, 100.0))]
    plain = tool_feedback(clip, video_tag="<video>")
    assert plain.startswith("<video>") and "58.0 s – 100.0 s" in plain and final_answer_request() not in plain
    last = tool_feedback(clip, ask_final=True, video_tag="<video>")
    assert last == plain + "\n\n" + final_answer_request()
    limit = RejectedCall(CallProblem.TURN_LIMIT, "turn 3 of 3")
    assert tool_feedback(limit, ask_final=True) == final_answer_request()  # not twice
    assert tool_feedback(None) == missing_action_feedback()
    bad = tool_feedback(RejectedCall(CallProblem.REVERSED, "x"), ask_final=True)
    assert "not carried out" in bad and bad.endswith(final_answer_request())


# ---------------------------------------------------------------------------------------------
# Adversarial replies (issue #15): every one parses without an exception, in linear time, and
# the observation stays short. The 200 kB sizes are far past where the old parsers broke (1000
# brackets, 4301 digits) or stalled (8k spaces: 11 s, growing with the square); the timeout is a
# hang guard only, the work bound is asserted by counting (see test_repeated_tags_scan_once).
# ---------------------------------------------------------------------------------------------

CALL_HEAD = '<think>t</think><tool_call>{"name": "get_video_clip_frame", "arguments": [{"start_time": '
BIG = 200_000


def _agent_reads(text: str) -> tuple[object, str | None]:
    """What the agent does with a reply: parse it, read its answer, judge its call, and the
    observation it would send (None for an answer)."""
    turn = parse_turn(text)
    if turn.answer is not None:
        parse_choice(turn.answer)
        parse_span(turn.answer)
    if turn.tool_call is None:
        return turn, None
    outcome = validate_call(turn.tool_call, 600.0, 0.5, [(1.0, 2.0)], turn=1)
    return turn, (outcome.feedback() if isinstance(outcome, RejectedCall)
                  else clip_feedback(outcome))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("text,problem,detail", [
    ("<think>t</think><tool_call>" + "[" * BIG, CallProblem.BAD_JSON, "nested deeper than 32"),
    ("<think>t</think><tool_call>" + '{"a":' * (BIG // 5), CallProblem.BAD_JSON, "nested deeper"),
    # 33 levels: one past the limit; 32 levels still reach the decoder (which then finds no value).
    ("<think>t</think><tool_call>" + "[" * 33 + "]" * 33, CallProblem.BAD_JSON, "nested deeper"),
    ("<think>t</think><tool_call>" + "[" * 32 + "]" * 32, CallProblem.BAD_ARGUMENTS, "expected"),
    # Brackets inside a JSON string are text, not nesting.
    ('<think>t</think><tool_call>{"name": "' + "[" * 5000 + '", "arguments": [[1, 2]]}',
     CallProblem.UNKNOWN_TOOL, "'[[[["),
    # Deep arguments given as a JSON string (OpenAI style) are refused the same way.
    ('<think>t</think><tool_call>{"name": "get_video_clip_frame", "arguments": "'
     + "[" * 5000 + '"}', CallProblem.BAD_ARGUMENTS, "expected"),
    ("<think>t</think><tool_call>[1" + " " * (BIG // 2) + "," + " " * (BIG // 2) + "x</tool_call>",
     CallProblem.BAD_JSON, ""),
    (CALL_HEAD + '"1' + " " * BIG + 'x", "end_time": 5}]}', CallProblem.BAD_ARGUMENTS, "expected"),
    (CALL_HEAD + '"' + "\\" * BIG, CallProblem.BAD_JSON, ""),
], ids=["unclosed_brackets", "unclosed_objects", "depth_33", "depth_32", "brackets_in_a_string",
        "deep_arguments_string", "short_form_spaces", "seconds_string_spaces", "backslashes"])
def test_adversarial_calls_are_rejected_not_raised(text, problem, detail):
    turn, observation = _agent_reads(text)
    assert turn.tool_call.error is problem, turn.tool_call.detail
    assert detail in turn.tool_call.detail
    assert len(observation) < 400, observation[:400]


def test_long_integers_are_read_as_numbers():
    # int() refuses 4301+ digits; the call is read (as an absurd number) and judged.
    digits = "1" * 5000
    turn, observation = _agent_reads(CALL_HEAD + digits + ', "end_time": 5}]}</tool_call>')
    assert turn.tool_call.error is None
    assert turn.tool_call.spans == (Segment(math.inf, 5.0),)
    assert "not a finite number" in observation
    turn, observation = _agent_reads(CALL_HEAD + "1" + "0" * 20 + ', "end_time": 5}]}</tool_call>')
    assert turn.tool_call.spans == (Segment(1e20, 5.0),)
    assert "[1e+20, 5.0] ends before it starts" in observation
    assert parse_span(digits + " to 5") == Segment(math.inf, 5.0)


@pytest.mark.parametrize("spans,shown", [
    ((1e308, 1.5e308), "[1e+308, 1.5e+308] lies outside the video"),
    ((-1e308, -5e307), "[-1e+308, -5e+307] lies outside the video"),
    ((5, 1e300), None),  # accepted, clamped to the video: the observation shows the clamped span
])
def test_absurd_spans_give_short_observations(spans, shown):
    turn, observation = _agent_reads("<think>t</think>" + call_json(spans))
    assert len(observation) < 300, observation
    if shown is None:
        assert "5.0 s – 600.0 s" in observation
    else:
        assert shown in observation


@pytest.mark.parametrize("t,expected", [(1e15, "1e+15"), (-2.5e17, "-2.5e+17"), (1e308, "1e+308"),
                                         (123456789012345.67, "123456789012345.67"),
                                         (math.inf, "inf"), (-math.inf, "-inf"), (NAN, "nan")])
def test_format_seconds_is_bounded(t, expected):
    assert format_seconds(t) == expected


@pytest.mark.timeout(120)
@pytest.mark.parametrize("answer", [
    "[" * BIG,
    "answer" + " " * BIG + "x",
    "option is " * (BIG // 10),
    "(A" * (BIG // 2),
    "1" * BIG,
    "1:" * (BIG // 2),
    "1." * (BIG // 2),
    " " * BIG + "B",
], ids=["brackets", "answer_spaces", "option_is", "open_paren_letters", "digits", "clock_colons",
        "dots", "spaces_then_letter"])
def test_adversarial_answers_parse(answer):
    turn, _ = _agent_reads(f"<think>t</think><answer>{answer}</answer>")
    assert turn.answer == answer.strip()
    assert parse_choice(answer) == ("B" if answer.strip() == "B" else None)


def test_adversarial_answer_values():
    # One time each ("1:1:1", "1.1"); every later number follows a colon or a dot.
    assert parse_span("1:" * 1000) is None
    assert parse_span("1." * 1000) is None
    assert parse_span("1:" * 1000 + " 7") == Segment(3661.0, 7.0)
    assert parse_choice("answer" + " " * 5000 + "C") == "C"
    assert parse_choice("the answer is" + " " * 5000 + "(D)") == "D"
    assert parse_choice("option:" + " " * 5000 + "e") is None  # lower case after a word: not stated


class _CountingText(str):
    """A reply that counts the characters :meth:`str.find` scans."""

    scanned = 0

    def find(self, needle, start=0, end=None):
        hit = super().find(needle, start) if end is None else super().find(needle, start, end)
        type(self).scanned += (len(self) if hit < 0 else hit + len(needle)) - start
        return hit


@pytest.mark.parametrize("unit,tail", [
    ("<think>", ""),  # each reopened think looks for a </think> that never comes
    ("<think>x<think>", "<answer>B</answer>"),
    ("<think>a</think><answer>A</answer>", ""),
    ("</answer>", "<think>t</think><answer>B</answer>"),
    ("<tool_call></tool_call>", ""),
])
def test_repeated_tags_scan_once(unit, tail):
    for n in (100, 2000):
        text = _CountingText(unit * n + tail)
        _CountingText.scanned = 0
        parse_turn(text)
        # A few needles, each scanning the text about once: linear, whatever the count of tags.
        assert _CountingText.scanned <= 6 * len(text), (n, _CountingText.scanned, len(text))


def test_short_form_still_accepted_and_strict():
    for body, want in [("[58, 100]", (58.0, 100.0)), ("[ 58.0 s , 100s ]", (58.0, 100.0)),
                       ("[+1.5s, -2e1s]", (1.5, -20.0)), ("[.5, 7.]", (0.5, 7.0))]:
        call = parse_tool_call(body)
        assert (call.form, call.error, call.spans) == ("short", None, (Segment(*want),)), body
    for body in ["[58, 100", "58, 100]", "[58 100]", "[58, 100, 120s]", "[58s s, 100]",
                 "[58ss, 100]", "[a, 100]", "[58, 100 sec]", "[, 100]"]:
        assert parse_tool_call(body).error is CallProblem.BAD_JSON, body


def test_unknown_tool_name_is_shortened_in_the_observation():
    name = "zoom" * 10_000
    turn, observation = _agent_reads("<think>t</think>" + call_json((1, 5), name=name))
    assert turn.tool_call.error is CallProblem.UNKNOWN_TOOL
    assert turn.tool_call.name == name  # the call keeps what was written
    assert "'zoomzoom" in observation and len(observation) < 300


@pytest.mark.parametrize("value,expected", [
    ('"5 seconds"', 5.0), ('"5secs"', 5.0), ('"5 SEC"', 5.0), ('"5 s"', 5.0), ('"1:05 s"', 65.0),
    ('"5 ss"', None), ('"s"', None), ('"5 minutes"', None), ('" 7.5 "', 7.5),
])
def test_string_times_with_units(value, expected):
    call = parse_tool_call(f'{{"name": "{TOOL_NAME}", "arguments": [{{"start_time": {value}, '
                           '"end_time": 100}]}')
    if expected is None:
        assert call.error is CallProblem.BAD_ARGUMENTS
    else:
        assert call.error is None and call.spans == (Segment(expected, 100.0),)


# ---------------------------------------------------------------------------------------------
# Exact texts and edges that mutation testing found unchecked (scripts/mutation.sh)
# ---------------------------------------------------------------------------------------------

def test_observation_texts_word_for_word():
    # What the model reads after a call is part of its training data: pinned exactly.
    assert clip_feedback([(58, 100)]) == (
        "This clip is 58.0 s – 100.0 s of the original video. "
        "Its frames are denser than in the overview.")
    assert clip_feedback([(1, 2), (3, 4.5)], video_tag="<video>") == (
        "Here are the 2 clips you asked for.\n"
        "<video>Clip 1: 1.0 s – 2.0 s of the original video.\n"
        "<video>Clip 2: 3.0 s – 4.5 s of the original video.")
    assert call_error_feedback(RejectedCall(CallProblem.NO_CLIPS, "")) == (
        "The tool call was not carried out: it asks for no segment. No clip was extracted. "
        "Continue without it: answer from what you have seen, or make a corrected call.")
    assert call_error_feedback(RejectedCall(CallProblem.EMPTY, "the segment [5.0, 5.0] has no length")) == (
        "The tool call was not carried out: a segment has no length (the segment [5.0, 5.0] has "
        "no length). No clip was extracted. "
        "Continue without it: answer from what you have seen, or make a corrected call.")
    from videotemp_o3.protocol import tool_feedback
    clip = ClipRequest(Segment(58.0, 100.0), Segment(58.0, 100.0))
    assert tool_feedback([clip]) == clip_feedback([(58, 100)])


def test_render_errors_say_what_is_missing():
    with pytest.raises(ValueError, match="^a tool call needs at least one segment$"):
        render_tool_call([])
    with pytest.raises(ValueError, match="^give exactly one of answer and segments$"):
        render_turn("t")


def test_shortened_quotes_keep_forty_characters():
    forty, more = "x" * 40, "y" * 41
    assert parse_tool_call(f'{{"name": "{forty}", "arguments": [[1, 2]]}}').detail == repr(forty)
    assert parse_tool_call(f'{{"name": "{more}", "arguments": [[1, 2]]}}').detail == repr("y" * 40 + "…")


@pytest.mark.parametrize("text,expected", [("1:-5", None), ("1:60", None), ("1:59.5", 119.5),
                                            ("1:60.5", None), ("1:02:60", None), ("1:-2:03", None),
                                            ("75:00", 4500.0)])
def test_parse_clock_edges(text, expected):
    # Minutes and seconds after the first field are 0 <= x < 60; the first field is free.
    assert parse_clock(text) == expected


def test_short_form_reads_every_digit():
    assert parse_tool_call("[1s, 23]").spans == (Segment(1.0, 23.0),)
    assert parse_tool_call("[10, 23s]").spans == (Segment(10.0, 23.0),)


def test_json_nesting_limit_is_exact():
    # 33 brackets, 32 deep: still decoded (and judged as a call); 33 deep: refused unread.
    deep32 = "[" * 31 + "[], []" + "]" * 31
    assert parse_tool_call(deep32).error is CallProblem.BAD_ARGUMENTS
    assert parse_tool_call("[" + deep32 + "]").detail == "nested deeper than 32 levels"
    # Brackets only inside a string: no nesting at all.
    call = parse_tool_call('"' + "[" * 40 + '"')
    assert call.error is CallProblem.BAD_JSON
    assert call.detail == "expected a JSON object with name and arguments"


@pytest.mark.parametrize("body,name,form,error,detail", [
    ("[1]", TOOL_NAME, "short", CallProblem.BAD_ARGUMENTS, "expected [start, end] in seconds"),
    ("[[1, 2]] tail", TOOL_NAME, "short", None, "ignored text after the JSON: 'tail'"),
    ("42", None, "json", CallProblem.BAD_JSON, "expected a JSON object with name and arguments"),
    ("[1s, 2]", TOOL_NAME, "short", None, ""),
    ("{", None, "json", CallProblem.BAD_JSON, "Expecting property name enclosed in double quotes"),
])
def test_tool_call_keeps_what_was_written(body, name, form, error, detail):
    call = parse_tool_call(f"  {body}\n")
    assert (call.name, call.form, call.error, call.detail) == (name, form, error, detail)
    assert call.raw == body  # the block as written, stripped
    assert call.spans == ((Segment(1.0, 2.0),) if error is None else ())


def test_rejections_say_which_and_why():
    limit = validate_call(body((1, 5)), 600.0, 0.5, turn=3, max_turns=3)
    assert (limit.problem, limit.detail) == (CallProblem.TURN_LIMIT, "turn 3 of 3")
    unknown = validate_call(body((1, 5), name="zoom"), 600.0, 0.5)
    assert (unknown.problem, unknown.detail) == (CallProblem.UNKNOWN_TOOL, "'zoom'")
    none = validate_call(parse_tool_call(f'{{"name": "{TOOL_NAME}", "arguments": []}}'), 600.0, 0.5)
    assert none.detail == "the call lists no segment"
    # One segment is "the segment"; in a call of several, each is named by its number.
    assert validate_call(body((9, 7)), 600.0, 0.5).detail == "the segment [9.0, 7.0] ends before it starts"
    assert validate_call(body((1, 5), (9, 7)), 600.0, 0.5).detail == (
        "segment 2 [9.0, 7.0] ends before it starts")


@pytest.mark.parametrize("span,previous,expected", [
    ((-5, 0), [], CallProblem.OUTSIDE),            # ends exactly where the video starts
    ((-5, 0.8), [], [(0.0, 0.8)]),                 # ends inside the first second: kept
    ((58.25, 100), [(58, 100)], CallProblem.REPEATED),   # start off by exactly half a frame
    ((58, 100.25), [(58, 100)], CallProblem.REPEATED),   # end off by exactly half a frame
    ((58.2, 100), [(58, 100)], CallProblem.REPEATED),
    ((58.3, 100), [(58, 100)], [(58.3, 100.0)]),
])
def test_call_boundaries(span, previous, expected):
    result = validate_call(body(span), 600.0, 0.5, previous)
    if isinstance(expected, CallProblem):
        assert isinstance(result, RejectedCall) and result.problem is expected
    else:
        assert [c.segment.as_list() for c in result] == [list(e) for e in expected]


@pytest.mark.parametrize("text,think,answer,spans,issues", [
    # A think left open ends where the first action starts, even one before it in the text.
    ("<tool_call>[1, 2]</tool_call><think>still open", "still open", None, ((1.0, 2.0),),
     {Issue.UNCLOSED_THINK, Issue.SHORT_FORM_CALL}),
    ("<answer>A</answer><think>still open", "still open", "A", None, {Issue.UNCLOSED_THINK}),
    ("<think>hmm <tool_call>[1, 2]</tool_call>", "hmm", None, ((1.0, 2.0),),
     {Issue.UNCLOSED_THINK, Issue.SHORT_FORM_CALL}),
    # A closing tag other than </think> before anything is stray, not the end of a think.
    ("x</answer><think>t</think><answer>B</answer>", "t", "B", None,
     {Issue.STRAY_CLOSING_TAG, Issue.TEXT_OUTSIDE_TAGS}),
])
def test_parse_turn_more_shapes(text, think, answer, spans, issues):
    turn = parse_turn(text)
    assert (turn.think, turn.answer, set(turn.issues)) == (think, answer, issues)
    assert (turn.tool_call.spans if turn.tool_call else None) == (
        tuple(Segment(*s) for s in spans) if spans else None)


def test_several_call_blocks_keep_the_first_call():
    first = call_json((1, 5))
    turn = parse_turn("<think>t</think>" + first + call_json((6, 9)) + call_json((7, 8)))
    call = turn.tool_call
    assert (call.name, call.error, call.detail) == (TOOL_NAME, CallProblem.SEVERAL_CALLS,
                                                    "3 <tool_call> blocks")
    assert call.raw == first.removeprefix("<tool_call>").removesuffix("</tool_call>")


def test_answer_edges():
    assert parse_choice("the answer is E", 4) is None  # stated, but not one of the options
    assert parse_choice("the answer is D", 4) == "D"
    # A time that is not a clock reading is skipped, not the end of the search.
    assert parse_span("1:75 then 2:00 to 3:00") == Segment(120.0, 180.0)


def test_unknown_and_unreadable_calls_keep_what_was_written():
    body = '{"arguments": [[1, 2]]}'
    call = parse_tool_call(body)
    assert (call.name, call.error, call.detail, call.raw) == (None, CallProblem.UNKNOWN_TOOL,
                                                             "None", body)
    body = f'{{"name": "{TOOL_NAME}", "arguments": 5}}'
    call = parse_tool_call(body)
    assert (call.name, call.error, call.raw) == (TOOL_NAME, CallProblem.BAD_ARGUMENTS, body)
    # A call built by hand (not parsed) that names another tool is refused all the same.
    rejected = validate_call(ToolCall("zoom", (Segment(1, 5),), "json", ""), 600.0, 0.5)
    assert (rejected.problem, rejected.detail) == (CallProblem.UNKNOWN_TOOL, "'zoom'")
