"""eval/run.py, eval/score.py and `videotemp ask` against what production throws at them: files
they did not write, damaged files, two runs on one file, Ctrl-C, servers that are down, fail or
hang, several workers, bad flags. Each case ends in one clear line (or a correct result), never
a traceback, never a lost or rewritten result, and a non-zero exit status when it failed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from local_server import LocalServer, QuietHandler

from videotemp_o3.agent import Agent, AgentConfig
from videotemp_o3.benchmarks import BenchmarkDataError, Item, ResultRecord, get_benchmark
from videotemp_o3.benchmarks.score import main as score_main
from videotemp_o3.evaluate import ResultsFile, main as run_main, run_items
from videotemp_o3.testing.videos import make_indexed_video
from videotemp_o3.video import FrameBudget

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--overview-frames", "8", "--overview-pixels", "6272", "--clip-pixels", "6272", "--clip-max-frames", "8",
         "--max-new-tokens", "8"]


def one_line(text: str) -> str:
    """The text, asserted to be exactly one line (no traceback, no usage block)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def vt_record(i: int, video: str = "videos/v.mp4", **extra) -> dict:
    return {"uid": f"q{i}", "videos": [video], "question": f"Which block {i}?\nA. left\nB. right",
            "answer": "A", "duration": 9.0, "timestamp": [1.0, 2.0], **extra}


def vt_data(root: Path, n: int = 2, video: Path | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rel = "videos/v.mp4"
    if video is not None:
        (root / "videos").mkdir(exist_ok=True)
        os.symlink(video, root / rel)
    (root / "data.jsonl").write_text("".join(json.dumps(vt_record(i, rel)) + "\n" for i in range(n)))
    return root


@pytest.fixture(scope="module")
def small_video(tmp_path_factory) -> Path:
    return make_indexed_video(tmp_path_factory.mktemp("video") / "v.mp4", frames=90, fps=10)


# --- results files eval/run.py did not write --------------------------------------------------------

def ours(uid: str, bench: str = "videotemp", error=None) -> str:
    return json.dumps({"uid": uid, "bench": bench, "raw": "<answer>A</answer>", "prediction": "A",
                       "segments": [], "turns": 1, "seconds": 1.0, "error": error})


def test_complete_last_line_without_newline_is_kept(tmp_path):
    out = tmp_path / "r.jsonl"
    original = (ours("a") + "\n" + ours("b", error="boom") + "\n" + ours("c")).encode()
    out.write_bytes(original)
    with ResultsFile(out, "videotemp") as results:
        assert results.done == {"a", "c"}  # c is complete although its newline is missing
        results.append(ResultRecord("d", "videotemp", "<answer>B</answer>", "B"))
    data = out.read_bytes()
    assert data.startswith(original + b"\n")  # nothing cut, nothing rewritten
    assert [json.loads(ln)["uid"] for ln in data.decode().splitlines()] == ["a", "b", "c", "d"]


def test_torn_tail_cut_only_when_it_is_ours(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text(ours("a") + "\n" + '{"uid": "b", "bench": "vid')
    with ResultsFile(out, "videotemp") as results:
        assert results.done == {"a"} and "incomplete last line" in results.notes[0]
    assert out.read_text() == ours("a") + "\n"
    other = tmp_path / "other.jsonl"
    other.write_text(ours("a") + "\n" + "some notes someone typed")
    before = other.read_bytes()
    assert run_main(["--bench", "videotemp", "--data-dir", str(vt_data(tmp_path / "d")), "--output", str(other),
                     "--no-score"]) == 2
    assert other.read_bytes() == before


REFUSED = {
    "release_dict": (json.dumps({"1": "A", "2": "B"}, indent=4), "holds one JSON value"),
    "videomme_list": (json.dumps([{"video_id": "001", "questions": []}]), "holds one JSON value"),
    "release_jsonl": (json.dumps({"videos": ["v"], "question": "q", "response": "A", "duration": 3}) + "\n",
                      "holds the release's output"),
    "other_benchmark": (ours("a", bench="videotemp-g") + "\n", "this result is for benchmark 'videotemp-g'"),
    "no_uid": (ours("a") + "\n" + json.dumps({"bench": "videotemp", "raw": "x"}) + "\n",
               "r.jsonl:2: result record has no 'uid'"),
    "binary": ("\x00\x01\x02\x03garbage\n", "r.jsonl:1: invalid JSON"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_results_file_of_another_kind_is_refused_untouched(tmp_path, capsys, case):
    content, message = REFUSED[case]
    out = tmp_path / "r.jsonl"
    out.write_text(content)
    before, mtime = out.read_bytes(), out.stat().st_mtime_ns
    rc = run_main(["--bench", "videotemp", "--data-dir", str(vt_data(tmp_path / "d")), "--output", str(out),
                   "--no-score", "--model", str(tmp_path / "never-loaded")])
    assert rc == 2
    err = capsys.readouterr().err
    assert message in one_line(err) and str(out) in err
    assert out.read_bytes() == before and out.stat().st_mtime_ns == mtime


def test_non_utf8_results_file_is_refused(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    out.write_bytes(ours("a").encode() + b"\n" + b'{"uid": "b\xff"}\n')
    assert run_main(["--bench", "videotemp", "--data-dir", str(vt_data(tmp_path / "d")), "--output", str(out),
                     "--no-score"]) == 2
    assert "r.jsonl:2: not UTF-8 text (byte 0xff" in one_line(capsys.readouterr().err)


def test_a_second_run_on_a_held_results_file_is_refused(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(out)!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run_main(["--bench", "videotemp", "--data-dir", str(vt_data(tmp_path / "d")), "--output", str(out),
                         "--no-score"]) == 2
        assert "another eval/run.py is writing this results file" in one_line(capsys.readouterr().err)
    finally:
        holder.kill()
        holder.wait()
    assert out.read_bytes() == b""


# --- eval/score.py on damaged files -------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (random.Random(0).randbytes(4096).replace(b"\n", b"") + b"\n", r"r\.jsonl:1: (invalid JSON|not UTF-8)"),
    (b'{"uid": "q0", "raw": "\xff\xfe"}\n', r"r\.jsonl:1: not UTF-8 text \(byte 0xff"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", r"r\.jsonl:1: (invalid JSON|not UTF-8)"),
    # One line without a uid: a damaged results file, not the release's {uid: answer} dict.
    (b'{"bench": "videotemp", "raw": "<answer>A</answer>", "prediction": "A"}\n',
     r"r\.jsonl:1: result record has no 'uid'"),
    (ours("q0", bench="videotemp-g").encode() + b"\n",
     r"r\.jsonl:1: this result is for benchmark 'videotemp-g', not 'videotemp'; score it with"),
])
def test_score_damaged_results_one_line(tmp_path, capsys, content, message):
    import re

    out = tmp_path / "r.jsonl"
    out.write_bytes(content)
    assert score_main(["videotemp", "--input_file", str(out), "--data-dir", str(vt_data(tmp_path / "d"))]) == 2
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and re.search(message, errors[0]) and "Traceback" not in err


def test_score_tolerates_a_torn_last_line_like_run(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    out.write_text(ours("q0") + "\n" + '{"uid": "q1", "raw": "<ans')
    assert score_main(["videotemp", "--input_file", str(out), "--data-dir", str(vt_data(tmp_path / "d"))]) == 0
    text = capsys.readouterr().out
    assert "answered 1 | missing 1" in text and "incomplete (a run killed mid-write?)" in text


# --- benchmark files --------------------------------------------------------------------------------

def test_reversed_timestamp_is_an_error(tmp_path, capsys):
    root = tmp_path / "d"
    root.mkdir()
    (root / "data.jsonl").write_text(json.dumps(vt_record(0, timestamp=[56.1, 43.3])) + "\n")
    with pytest.raises(BenchmarkDataError, match=r"data\.jsonl:1: field 'timestamp': start 56\.1 s is after end 43\.3 s"):
        get_benchmark("videotemp-g").load(root)
    assert score_main(["videotemp-g", "--data-dir", str(root), "--input_file", str(root / "data.jsonl")]) == 2
    assert "start 56.1 s is after end 43.3 s" in capsys.readouterr().err


def test_empty_annotation_file_fails(tmp_path, capsys):
    root = tmp_path / "d"
    root.mkdir()
    (root / "data.jsonl").write_text("\n")
    assert run_main(["--bench", "videotemp", "--data-dir", str(root), "--no-score"]) == 2
    assert "no questions in the annotation files" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("bench, name, content, message", [
    ("videotemp", "data.jsonl", json.dumps(vt_record(0)).encode() + b"\n{\"uid\": \"\xe9\"}\n",
     r"data\.jsonl:2: not UTF-8 text \(byte 0xe9"),
    ("charades", "charades_sta_test.txt", b"V 0 1##ok\nW 0 1##caf\xe9\n", r"charades_sta_test\.txt:2: not UTF-8"),
    ("mlvu", "test_mcq_gt.json", b'[{"question": "caf\xe9"}]', r"test_mcq_gt\.json: not UTF-8"),
])
def test_non_utf8_annotation_file(tmp_path, bench, name, content, message):
    root = tmp_path / "d"
    root.mkdir()
    (root / name).write_bytes(content)
    with pytest.raises(BenchmarkDataError, match=message):
        get_benchmark(bench).load(root)


# --- flags ----------------------------------------------------------------------------------------------

BAD_RUN_FLAGS = [
    (["--limit", "-1"], "--limit: must be at least 1"),
    (["--limit", "0"], "--limit: must be at least 1"),
    (["--workers", "0"], "--workers: must be at least 1"),
    (["--workers", "-3"], "--workers: must be at least 1"),
    (["--max-new-tokens", "0"], "--max-new-tokens: must be at least 1"),
    (["--temperature", "-1"], "--temperature: must be at least 0"),
    (["--temperature", "nan"], "--temperature: expected a finite number"),
    (["--max-turns", "0"], "--max-turns: must be at least 1"),
    (["--overview-frames", "1"], "--overview-frames: must be at least 2"),
    (["--clip-fps", "nan"], "--clip-fps: expected a finite number"),
    (["--clip-fps", "0"], "--clip-fps: must be greater than 0"),
    (["--request-timeout", "inf"], "--request-timeout: expected a finite number"),
    (["--mcq-only"], "--mcq-only applies to videommmu only, not videotemp"),
    (["--grounding-query", "stem"], "--grounding-query applies to videotemp-g only, not videotemp"),
    (["--return_task_types_accuracy"], "unrecognized arguments"),  # a scoring switch, not a run's
    (["--engine", "openai"], "--engine openai needs --base-url"),
    (["--base-url", "http://x"], "--base-url is for --engine openai"),
    (["--prompt-profile", "/no/such/profile.json"],
     "--prompt-profile: /no/such/profile.json: cannot read the prompt profile"),
]


@pytest.mark.parametrize("argv, message", BAD_RUN_FLAGS)
def test_run_flags_checked_before_anything(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        run_main(["--bench", "videotemp", "--data-dir", str(tmp_path / "does-not-exist"), *argv])
    assert info.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("eval/run.py: error:") and message in line


@pytest.mark.parametrize("argv, message", [
    (["videotemp", "--return_task_types_accuracy"], "--return_task_types_accuracy applies to videomme only"),
    (["videotemp", "--lmms-eval"], "--lmms-eval applies to videomme, mlvu only"),
    (["videotemp", "--strict-threshold"], "--strict-threshold applies to videotemp-g, nextgqa, charades only"),
    (["videomme", "--mcq-only"], "--mcq-only applies to videommmu only"),
    (["videotemp", "--plot", "x.xyz"], "--plot x.xyz: unknown image type 'xyz'"),
    (["videotemp", "--plot", "noext"], "unknown image type '(no extension)'"),
    (["videotemp", "--release", "--skip-missing"], "--release applies the release's own rules"),
])
def test_score_flags_checked_before_the_table(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        score_main([*argv, "--data-dir", str(tmp_path / "does-not-exist")])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was scored or printed before the check
    assert message in one_line(captured.err)


# --- servers: down, failing, hanging ------------------------------------------------------------------------

class Server(LocalServer):
    """A local HTTP server speaking just enough of the OpenAI API: ``models`` is what
    /v1/models lists (None: hang), ``chat`` answers /v1/chat/completions: an HTTP status,
    "hang" (accept, then never reply), or a list of reply texts given in turn."""

    def __init__(self, models=("served-x",), chat=400):
        self.models, self.chat, self.requests = models, chat, []
        self.release = threading.Event()
        outer = self

        class Handler(QuietHandler):
            def do_GET(self):
                outer.requests.append(("GET", self.path, None))
                if outer.models is None:
                    outer.release.wait(30)
                    return
                self.send_json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in outer.models]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(("POST", self.path, body))
                if outer.chat == "hang":
                    outer.release.wait(30)
                    return
                if isinstance(outer.chat, list):
                    text = outer.chat.pop(0)
                    self.send_json(200, {"choices": [{"message": {"role": "assistant", "content": text},
                                                      "finish_reason": "stop"}],
                                         "usage": {"prompt_tokens": 100, "completion_tokens": 10}})
                    return
                self.send_json(outer.chat, {"error": {"message": "bad request: no such model or video"}})

        super().__init__(Handler)

    def close(self):
        self.release.set()
        super().close()


@pytest.fixture
def server():
    servers = []

    def start(**kw):
        servers.append(Server(**kw))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def openai_run(tmp_path, small_video, url, *extra):
    data = vt_data(tmp_path / "d", n=2, video=small_video)
    out = tmp_path / "r.jsonl"
    argv = ["--bench", "videotemp", "--data-dir", str(data), "--output", str(out), "--no-score",
            "--engine", "openai", "--base-url", url, *SMALL, *extra]
    return out, run_main(argv)


def test_nothing_listening_is_one_line_at_once(tmp_path, small_video, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out, rc = openai_run(tmp_path, small_video, f"http://127.0.0.1:{port}/v1")
    assert rc == 2
    err = capsys.readouterr().err
    line = [ln for ln in err.splitlines() if ln.startswith("eval/run.py:")]
    assert len(line) == 1 and f"no server answers at http://127.0.0.1:{port}/v1" in line[0]
    assert not out.exists()  # no question was sent, nothing recorded


def test_model_from_the_server_and_exit_status_on_total_failure(tmp_path, small_video, capsys, server):
    srv = server(models=("served-x",), chat=400)
    out, rc = openai_run(tmp_path, small_video, srv.url)
    assert rc == 1  # every question failed: not a success
    err = capsys.readouterr().err
    assert "[run] 2 of 2 question(s) ended in an error" in err
    assert f"[run] {srv.url}: serving served-x" in err
    posts = [body for method, _, body in srv.requests if method == "POST"]
    assert posts and all(body["model"] == "served-x" for body in posts)  # asked, not the hub default
    lines = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [ln["uid"] for ln in lines] == ["q0", "q1"] and all("HTTP 400" in ln["error"] for ln in lines)


def test_server_errors_are_retried_then_recorded_and_the_run_fails(tmp_path, small_video, capsys, server,
                                                                   monkeypatch):
    from videotemp_o3.engines.openai import OpenAIEngine

    # The real engine with a short backoff (1, 2, 4 s by default): the retries, not their wait.
    init = OpenAIEngine.__init__
    monkeypatch.setattr(OpenAIEngine, "__init__", lambda self, *a, **kw: init(self, *a, **{**kw, "backoff_seconds": 0.01}))
    srv = server(models=("served-x",), chat=500)
    out, rc = openai_run(tmp_path, small_video, srv.url)
    assert rc == 1
    assert "[run] 2 of 2 question(s) ended in an error" in capsys.readouterr().err
    posts = [path for method, path, _ in srv.requests if method == "POST"]
    assert len(posts) == 2 * 4  # each question: the request and 3 retries
    lines = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [ln["uid"] for ln in lines] == ["q0", "q1"] and all("HTTP 500" in ln["error"] for ln in lines)
    # The rerun retries the errored questions (a server back up answers them).
    srv.chat = ["<think>x</think><answer>A</answer>", "<think>x</think><answer>B</answer>"]
    rc = run_main(["--bench", "videotemp", "--data-dir", str(tmp_path / "d"), "--output", str(out), "--no-score",
                   "--engine", "openai", "--base-url", srv.url, *SMALL])
    assert rc == 0
    done = [json.loads(ln) for ln in out.read_text().splitlines()][2:]
    assert sorted((r["uid"], r["error"]) for r in done) == [("q0", None), ("q1", None)]


def test_a_model_the_server_does_not_serve(tmp_path, small_video, capsys, server):
    srv = server(models=("served-x",))
    out, rc = openai_run(tmp_path, small_video, srv.url, "--model", "Qwen/Qwen2.5-VL-7B-Instruct")
    assert rc == 2
    assert "serves served-x, not 'Qwen/Qwen2.5-VL-7B-Instruct'; pass --model served-x" in capsys.readouterr().err
    assert not [r for r in srv.requests if r[0] == "POST"]


def test_a_server_that_accepts_then_hangs(tmp_path, small_video, capsys, server):
    from videotemp_o3.engines.base import EngineError
    from videotemp_o3.engines.openai import OpenAIEngine

    silent = server(models=None)
    with OpenAIEngine(silent.url) as engine, pytest.raises(EngineError, match="did not answer GET /v1/models within 1 s"):
        engine.check(timeout=1)
    # Listed, then stuck on the question: each question fails after --request-timeout, the run says so.
    stuck = server(models=("m",), chat="hang")
    out, rc = openai_run(tmp_path, small_video, stuck.url, "--request-timeout", "1")
    assert rc == 1
    lines = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert len(lines) == 2 and all("no reply within 1.0 s" in ln["error"] for ln in lines)


# --- the wording: --prompt-profile for eval/run.py and videotemp ask --------------------------------------

# A made-up wording, unlike ours: no system prompt, a prefix before the question, terse feedback.
TERSE = {"name": "terse", "system": "", "first_turn_prefix": "Use $tool at most ${max_clips} times. ",
         "clip_success_one": "${video}Clip ${start}-${end} ok.", "clip_success_many": "${clips}Clips: ${count}.",
         "clip_item": "${video}", "clip_separator": "", "clip_failure": "Failed: ${problem}${detail}.",
         "no_action": "Act.", "final_answer": " Answer now."}
SCRIPT = ["<think>look</think><tool_call>[1, 4]</tool_call>", "<think>seen</think><answer>A</answer>"]


def sent_texts(srv: "Server") -> list[list[tuple[str, str]]]:
    """Per request: (role, text) of every message the engine sent, frames left out."""
    posts = [body for method, _, body in srv.requests if method == "POST"]
    return [[(m["role"], m["content"] if isinstance(m["content"], str)
              else "".join(p.get("text", "") for p in m["content"])) for m in body["messages"]] for body in posts]


def check_terse_conversation(conversation: list[tuple[str, str]]) -> None:
    roles = [role for role, _ in conversation]
    assert roles == ["user", "assistant", "user"]  # the profile sends no system prompt
    assert conversation[0][1].startswith("Use get_video_clip_frame at most 3 times. ")
    assert conversation[2][1] == "Clip 1.0-4.0 ok."  # turn 1 of 3: the answer is not asked for yet


@pytest.mark.parametrize("command", ["eval/run.py", "videotemp ask"])
def test_prompt_profile_is_what_the_model_reads(tmp_path, small_video, capsys, server, command):
    from videotemp_o3.cli import main as cli_main

    profile = tmp_path / "terse.json"
    profile.write_text(json.dumps(TERSE))
    srv = server(models=("m",), chat=list(SCRIPT))
    engine = ["--engine", "openai", "--base-url", srv.url, "--prompt-profile", str(profile), "--max-turns", "3"]
    if command == "eval/run.py":
        out, rc = openai_run(tmp_path, small_video, srv.url, "--prompt-profile", str(profile), "--max-turns", "3",
                             "--limit", "1")
        assert rc == 0 and json.loads(out.read_text())["prediction"] == "A"
    else:
        out = tmp_path / "t.json"
        rc = cli_main(["ask", str(small_video), "Which block?", "--option", "A=left", "--option", "B=right",
                       "--out", str(out), *SMALL, *engine])
        assert rc == 0 and json.loads(out.read_text())["prediction"] == "A"
    first, second = sent_texts(srv)
    assert [role for role, _ in first] == ["user"] and first[0][1] == second[0][1]
    check_terse_conversation(second)


@pytest.mark.parametrize("command", ["eval/run.py", "videotemp ask"])
def test_unusable_prompt_profile_is_one_line_naming_the_file(tmp_path, small_video, capsys, command):
    from videotemp_o3.cli import main as cli_main

    profile = tmp_path / "half.json"
    profile.write_text(json.dumps({k: v for k, v in TERSE.items() if k != "no_action"}))
    with pytest.raises(SystemExit) as info:
        if command == "eval/run.py":
            run_main(["--bench", "videotemp", "--data-dir", str(tmp_path / "none"), "--prompt-profile", str(profile)])
        else:
            cli_main(["ask", str(small_video), "q", "--prompt-profile", str(profile)])
    assert info.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert f"--prompt-profile: {profile}: missing key(s) no_action" in line


# --- several workers, one file, one local engine ------------------------------------------------------------

class CountingAgent(Agent):
    """The real agent, counting the questions it was given."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.asked = []

    def run(self, video, question, **kw):
        self.asked.append(question.text)
        return super().run(video, question, **kw)


def test_workers_share_one_file_and_one_local_engine(local_engine, small_video, tmp_path):
    items = [Item(uid=f"u{i}", bench="videotemp", video=small_video, question=f"Which block {i}?",
                  options=("A. left", "B. right")) for i in range(6)]
    config = AgentConfig(overview_budget=FrameBudget(nframes=4, max_pixels=6272, min_pixels=3136),
                         clip_budget=FrameBudget(fps=1.0, max_frames=8, max_pixels=6272, min_pixels=3136),
                         max_new_tokens=12, max_turns=2)
    serial = tmp_path / "serial.jsonl"
    assert run_items("videotemp", items, [Agent(local_engine, config)], serial, workers=1) == 0
    agents = [CountingAgent(local_engine, config), CountingAgent(local_engine, config)]
    parallel = tmp_path / "parallel.jsonl"
    run_items("videotemp", items, agents, parallel, workers=3)
    rows = [json.loads(ln) for ln in parallel.read_text().splitlines()]
    assert sorted(r["uid"] for r in rows) == [i.uid for i in items]  # each once, whole lines
    assert [len(a.asked) for a in agents] == [3, 3]  # round-robin over the agents
    # The engine's lock serialises generation: greedy answers are those of the one-worker run.
    raw = {json.loads(ln)["uid"]: json.loads(ln)["raw"] for ln in serial.read_text().splitlines()}
    assert {r["uid"]: r["raw"] for r in rows} == raw
    assert all(r["error"] is None for r in rows)


# --- Ctrl-C on a real run, a second run meanwhile, and the resume ------------------------------------------

@pytest.mark.slow
def test_sigint_stops_a_real_run_and_the_rerun_resumes(small_video, tiny_model_dir, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "videos").mkdir()
    os.symlink(small_video, data / "videos" / "v.mp4")
    # Enough questions that the run is still going when the signal comes: a question of the tiny
    # model takes a third of a second on an idle machine, and the check below takes seconds.
    questions = 48
    (data / "data.jsonl").write_text("".join(json.dumps(vt_record(i)) + "\n" for i in range(questions)))
    out = tmp_path / "results.jsonl"
    cmd = [sys.executable, str(REPO / "eval" / "run.py"), "--bench", "videotemp", "--data-dir", str(data),
           "--model", str(tiny_model_dir), "--device", "cpu", "--output", str(out), "--no-score", "--workers", "2",
           *SMALL]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and (not out.exists() or not out.read_text().count("\n")):
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        # A second run on the same results file meanwhile: refused at once, before any question.
        assert run_main(["--bench", "videotemp", "--data-dir", str(data), "--output", str(out), "--no-score",
                         "--model", str(tiny_model_dir), "--device", "cpu", *SMALL]) == 2
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        if proc.poll() is None:  # an impatient second Ctrl-C while it stops: no abort, no traceback
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # stops promptly (not after every question)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted:" in err and "Run the same command again" in err
    first = [json.loads(ln) for ln in out.read_text().splitlines()]  # every line whole
    assert 1 <= len(first) < questions
    assert all(r["error"] is None for r in first)  # no bogus error lines from the teardown
    trajectories = out.parent / "results.trajectories"
    assert sorted(p.stem for p in trajectories.glob("*.json")) == sorted(r["uid"] for r in first)

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(first)} already done" in rerun.stdout
    uids = [json.loads(ln)["uid"] for ln in out.read_text().splitlines()]
    assert sorted(uids) == sorted(f"q{i}" for i in range(questions)) and len(uids) == len(set(uids))


# --- videotemp ask ---------------------------------------------------------------------------------------

def test_ask_checks_the_video_before_the_model(tmp_path, capsys):
    from videotemp_o3.cli import main as cli_main

    rc = cli_main(["ask", str(tmp_path / "missing.mp4"), "q", "--model", str(tmp_path / "no-such-model")])
    assert rc == 2
    assert "missing.mp4: no such video file" in one_line(capsys.readouterr().err)


def test_ask_eleven_options(tmp_path, small_video, capsys):
    from videotemp_o3.cli import main as cli_main

    options = [f"--option={chr(65 + k)}=x{k}" for k in range(11)]
    assert cli_main(["ask", str(small_video), "q", *options]) == 2
    assert "at most 10 options (A–J), got 11" in one_line(capsys.readouterr().err)


def test_ask_default_model_offline_is_one_line(tmp_path, small_video):
    env = {k: v for k, v in os.environ.items() if k != "VIDEOTEMP_MODEL"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "empty-hf-home"))
    proc = subprocess.run([sys.executable, "-m", "videotemp_o3.cli", "ask", str(small_video), "q",
                           "--out", str(tmp_path / "t.json")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert "Qwen/Qwen2.5-VL-7B-Instruct is not a local folder nor in the Hugging Face cache" in line
    assert "--model DIR" in line and not (tmp_path / "t.json").exists()


def test_ask_prints_each_turn_as_it_happens_and_saves_into_a_directory(tiny_model_dir, small_video, tmp_path,
                                                                        capsys, monkeypatch):
    import videotemp_o3.cli as cli

    seen = []
    live = cli._live

    def observe(traj, turn):  # the display hook, watched: it must run while the question is still going
        seen.append((None if turn is None else turn.index, len(traj.turns), traj.seconds))
        live(traj, turn)

    monkeypatch.setattr(cli, "_live", observe)
    folder = tmp_path / "runs"
    folder.mkdir()
    rc = cli.main(["ask", str(small_video), "Which block?", "--option", "A=left", "--option", "B=right",
                   "--model", str(tiny_model_dir), "--device", "cpu", "--out", str(folder), "--max-turns", "2",
                   "--overview-frames", "8", "--overview-pixels", "12544", "--clip-pixels", "12544",
                   "--max-new-tokens", "12"])
    assert rc == 0
    assert seen[0] == (None, 0, 0.0)  # the overview, before any turn
    assert [s[0] for s in seen[1:]] == list(range(1, len(seen)))
    assert all(n == k and seconds == 0.0 for k, n, seconds in seen[1:])  # printed before the run ended
    out = capsys.readouterr().out
    assert out.index("[overview]") < out.index("--- turn 1") < out.index("prediction:")
    saved = folder / "v.trajectory.json"
    assert json.loads(saved.read_text())["question"]["options"] == ["left", "right"]
    assert f"trajectory: {saved}" in out
