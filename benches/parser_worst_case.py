"""Time of the protocol parsers and the rewards on adversarial model replies, by shape and size.

Each shape is a reply a model (or a corrupted rollout) can produce that once broke or stalled the
parsers: unclosed brackets, huge integers, long runs of spaces between the parts a regular
expression looks for, repeated tags, absurd numbers. A reply goes through everything that reads
model output: :func:`parse_turn`, :func:`parse_choice` / :func:`parse_span` on its answer,
:func:`validate_call` and the feedback text on its call, and the three GRPO rewards. The table
gives seconds per reply at each size — the agent's parsing, then the rewards —, the longest
observation produced, and any exception that escaped. Linear parsing grows 10x per 10x size.

    .venv/bin/python benches/parser_worst_case.py                # 10 kB, 100 kB, 1 MB
    .venv/bin/python benches/parser_worst_case.py --sizes 8000,32000 --timeout 60

Every (shape, size) runs in its own subprocess under ``--timeout`` seconds (wall clock), so a
quadratic case shows as ">T" instead of stalling the run. Times are CPU seconds of that process
(``time.process_time``): on a shared machine they vary far less than wall time.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
import traceback
from typing import Callable

Shape = Callable[[int], str]

CALL_HEAD = '<think>t</think><tool_call>{"name": "get_video_clip_frame", "arguments": [{"start_time": '


def _shapes() -> dict[str, Shape]:
    return {
        # Brackets never closed: the JSON decoder recursed once per bracket.
        "call: unclosed [": lambda n: "<think>t</think><tool_call>" + "[" * n,
        "call: unclosed {\"a\":": lambda n: "<think>t</think><tool_call>" + '{"a":' * (n // 5),
        "answer: unclosed [": lambda n: "<think>t</think><answer>" + "[" * n,
        # An integer longer than int()'s 4300-digit limit inside the JSON.
        "call: long integer": lambda n: CALL_HEAD + "1" * n + ', "end_time": 5}]}</tool_call>',
        # Spaces between the parts of the short form [S, E], then a character that fails it.
        "call: [1 spaces , spaces x": lambda n: ("<think>t</think><tool_call>[1" + " " * (n // 2)
                                                 + "," + " " * (n // 2) + "x</tool_call>"),
        # A time written as a string with spaces before a non-unit.
        "call: \"1 spaces x\" seconds": lambda n: CALL_HEAD + '"1' + " " * n + 'x", "end_time": 5}]}',
        # "answer" and spaces: the stated-letter pattern of parse_choice.
        "answer: 'answer' + spaces + x": lambda n: "<think>t</think><answer>answer" + " " * n + "x</answer>",
        "answer: 'option is' + spaces": lambda n: ("<think>t</think><answer>" + "option is " * (n // 10)
                                                   + "</answer>"),
        "answer: '(A' repeated": lambda n: "<think>t</think><answer>" + "(A" * (n // 2) + "</answer>",
        "answer: digits": lambda n: "<think>t</think><answer>" + "1" * n + "</answer>",
        "answer: '1:' repeated": lambda n: "<think>t</think><answer>" + "1:" * (n // 2) + "</answer>",
        "answer: '1.' repeated": lambda n: "<think>t</think><answer>" + "1." * (n // 2) + "</answer>",
        # Tags: every <think> opened again, never closed; closing tags without openers.
        "<think> repeated": lambda n: "<think>" * (n // 7),
        "</answer> repeated": lambda n: "</answer>" * (n // 9) + "<think>t</think><answer>B</answer>",
        "<tool_call></tool_call> repeated": lambda n: "<think>t</think>" + "<tool_call></tool_call>" * (n // 23),
        "dots and spaces outside tags": lambda n: "<think>t</think>" + ". " * (n // 2) + "<answer>B</answer>",
        # JSON strings that never end, escaped quotes.
        "call: escaped quotes": lambda n: "<think>t</think><tool_call>" + '"\\' * (n // 2),
        # The release's format rule: <think>…</think> then <tool_call>…</tool_call>, many times.
        "</think><tool_call> repeated": lambda n: "<think>" + "</think><tool_call>" * (n // 19) + "x",
        "<think></think><tool_call></tool_call> repeated": lambda n: (
            "<think></think><tool_call></tool_call>" * (n // 38) + "x"),
        # Huge but well-formed: a long think, a long list of spans.
        "long think, answer": lambda n: "<think>" + "a " * (n // 2) + "</think><answer>B</answer>",
        "call: many spans": lambda n: CALL_HEAD + '1, "end_time": 2}' + ', {"start_time": 1, "end_time": 2}' * (n // 34) + "]}</tool_call>",
        # Absurd numbers: the observation must stay short.
        "call: span [1e308, 1.5e308]": lambda n: CALL_HEAD + '1e308, "end_time": 1.5e308}]}</tool_call>',
        "call: span [-1e308, 10]": lambda n: CALL_HEAD + '-1e308, "end_time": 10}]}</tool_call>',
    }


def _parse(text: str) -> int:
    """What the agent does with a reply: parse it, read its answer, judge its call and write the
    observation. Returns the length of the longest observation."""
    from videotemp_o3 import protocol

    turn = protocol.parse_turn(text)
    longest = 0
    if turn.answer is not None:
        protocol.parse_choice(turn.answer)
        protocol.parse_span(turn.answer)
    if turn.tool_call is not None:
        for duration in (600.0, None):
            outcome = protocol.validate_call(turn.tool_call, duration, 0.5, [(1.0, 2.0)], turn=1)
            longest = max(longest, len(protocol.tool_feedback(outcome)))
    return longest


def _rewards(text: str) -> None:
    """The three GRPO rewards of a trajectory whose two turns are this reply, for an MCQ and a
    grounding row (rows read by the rewards' own ``GroundTruth.from_row``)."""
    from videotemp_o3.training import rewards

    traj = rewards.Rollout([text, text])
    for row in ({"task": "mcq", "answer": "B", "timestamp": [1.0, 2.0], "duration": 600.0},
                {"task": "grounding", "answer": "[1.0, 2.0]", "duration": 600.0}):
        gt = rewards.GroundTruth.from_row(row)
        rewards.accuracy_reward(traj, gt)
        rewards.iou_reward(traj, gt)
        rewards.format_reward(traj, gt)


def _measure(shape: str, size: int, queue: "mp.Queue") -> None:
    text = _shapes()[shape](size)
    warm = "<think>warm up</think><answer>B</answer>"
    _parse(warm), _rewards(warm)  # imports outside the timing
    times: list[float] = []
    longest, error = 0, None
    try:
        start = time.process_time()
        longest = _parse(text)
        times.append(time.process_time() - start)
        start = time.process_time()
        _rewards(text)
        times.append(time.process_time() - start)
    except BaseException as e:  # noqa: BLE001 - reporting what escaped is the point
        last = traceback.extract_tb(e.__traceback__)[-1]
        error = f"{type(e).__name__} at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
    queue.put((times, longest, error))


def run_one(shape: str, size: int, timeout: float) -> tuple[list[float], int, str | None]:
    """Seconds for (parse, rewards) — fewer when it ran out of time or raised —, the longest
    observation, and what escaped."""
    queue: mp.Queue = mp.Queue()
    proc = mp.Process(target=_measure, args=(shape, size, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return [], 0, None
    return queue.get() if not queue.empty() else ([], 0, f"exit {proc.exitcode}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000",
                    help="reply sizes in characters, comma-separated (default: 10 kB, 100 kB, 1 MB)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per reply before giving up")
    ap.add_argument("--only", default="", help="run only the shapes whose name contains this")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    shapes = [s for s in _shapes() if args.only in s]
    width = max(map(len, shapes))
    print("CPU seconds per reply: parse (agent: parse_turn, answer, call, observation) / rewards (6 calls)")
    print(f"{'shape':<{width}}  " + "  ".join(f"{s:>17,}" for s in sizes) + "  obs.len  escaped")
    for shape in shapes:
        cells, notes, longest = [], set(), 0
        for size in sizes:
            times, obs, error = run_one(shape, size, args.timeout)
            longest = max(longest, obs)
            if error:
                notes.add(error)
            shown = [f"{t:.4f}" for t in times] + [f">{args.timeout:g}"] * (2 - len(times))
            if error:
                shown = shown[:len(times)] + ["err"] * (2 - len(times))
            cells.append(f"{shown[0]:>8}/{shown[1]:<8}")
        print(f"{shape:<{width}}  " + "  ".join(cells) + f"  {longest:>7}  "
              + ("; ".join(sorted(notes)) or "-"), flush=True)

if __name__ == "__main__":
    main()
