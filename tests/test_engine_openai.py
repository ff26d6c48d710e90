"""The OpenAI-compatible client: its wire formats, its error handling against real local HTTP
servers, and a real `swift deploy` (pt backend, CPU) serving the tiny model, whose greedy
answers must equal the local engine's — which only happens if frames and fps arrive intact.
(`tiny_model_dir` and `local_engine` come from conftest.py.)"""

from __future__ import annotations

import base64
import fractions
import io
import json
import os
import signal
import socket
import subprocess
import tempfile
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from local_server import QuietHandler

httpx = pytest.importorskip("httpx")

from videotemp_o3.engines.base import EngineError, video_metadata  # noqa: E402
from videotemp_o3.engines.openai import OpenAIEngine, expected_visual_tokens  # noqa: E402


def smooth_frames(t: int, h: int = 56, w: int = 84) -> np.ndarray:
    """Gradients (JPEG-friendly) that differ per frame."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack(
        [np.stack([(xx * 2 + i * 17) % 256, (yy * 3) % 256, np.full_like(xx, 40 * i)], -1)
         for i in range(t)]
    ).astype(np.uint8)


def video(frames: np.ndarray, fps: float) -> dict:
    return {"type": "video", "frames": frames, "fps": fps,
            "timestamps": [i / fps for i in range(len(frames))]}


def conversation(*videos: dict) -> list[dict]:
    return [
        {"role": "system", "content": [{"type": "text", "text": "You watch videos."}]},
        {"role": "user", "content": [*videos, {"type": "text", "text": "What happens?"}]},
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- wire formats ---------------------------------------------------------------------------


def test_jpeg_frames_request_for_vllm():
    frames = smooth_frames(5)
    engine = OpenAIEngine("http://127.0.0.1:9/", model="m",
                          extra_body={"mm_processor_kwargs": {"do_resize": False}, "top_k": 1})
    body = engine.build_request(conversation(video(frames, 2.0)), max_new_tokens=7,
                                temperature=0.1, stop=["</answer>", ""], seed=3)
    assert body["model"] == "m" and body["max_tokens"] == 7 and body["temperature"] == 0.1
    assert body["stop"] == ["</answer>"] and body["include_stop_str_in_output"] is True
    assert body["seed"] == 3 and body["top_k"] == 1
    assert body["mm_processor_kwargs"] == {"fps": 2.0, "do_sample_frames": False, "do_resize": False,
                                           "video_metadata": [video_metadata(6, 56, 84, 2.0)]}
    system, user = body["messages"]
    assert system == {"role": "system", "content": "You watch videos."}
    video_part, text_part = user["content"]
    assert text_part == {"type": "text", "text": "What happens?"}
    url = video_part["video_url"]["url"]
    prefix = "data:video/jpeg;base64,"
    assert video_part["type"] == "video_url" and url.startswith(prefix)
    from PIL import Image

    decoded = [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))))
               for b in url[len(prefix):].split(",")]
    assert len(decoded) == 6  # T made even by repeating the last frame
    padded = np.concatenate([frames, frames[-1:]])
    for got, want in zip(decoded, padded):
        assert got.shape == want.shape
        assert np.abs(got.astype(int) - want).mean() < 3  # JPEG q95, not a different frame
    engine.close()


def test_mixed_rates_send_one_fps_per_video():
    engine = OpenAIEngine("http://127.0.0.1:9", model="m")
    body = engine.build_request(
        conversation(video(smooth_frames(4), 0.25), video(smooth_frames(2), 2.0)),
        max_new_tokens=1,
    )
    kwargs = body["mm_processor_kwargs"]
    assert kwargs["fps"] == [0.25, 2.0] and kwargs["do_sample_frames"] is False
    assert [(m["fps"], m["total_num_frames"], m["frames_indices"]) for m in kwargs["video_metadata"]] == [
        (0.25, 4, [0, 1, 2, 3]), (2.0, 2, [0, 1])]
    assert "stop" not in body and "seed" not in body


def _processor_times(kwargs: dict, videos: list[np.ndarray]) -> list[float]:
    """second_per_grid_ts the installed transformers' Qwen2.5-VL processor derives from a
    request's mm_processor_kwargs, called as vLLM calls it (frames as arrays, the kwargs)."""
    from transformers import AutoProcessor

    from videotemp_o3.testing.tiny_model import build_tiny_model

    global _PROCESSOR
    if _PROCESSOR is None:
        _PROCESSOR = AutoProcessor.from_pretrained(build_tiny_model(Path(tempfile.mkdtemp()) / "m"))
    text = "<|vision_start|><|video_pad|><|vision_end|>" * len(videos)
    out = _PROCESSOR(text=[text], videos=videos, do_resize=False, return_tensors="pt", **kwargs)
    return [round(float(t), 4) for t in out["second_per_grid_ts"]]


_PROCESSOR = None


def test_processor_gets_each_videos_rate_from_the_request():
    """An overview at 0.25 fps and a clip at 2 fps: Qwen2.5-VL must space them 8 s and 1 s per
    temporal patch. transformers 4.x reads the fps list; 5.x refuses it (the engine's cue to
    resend) and reads the per-video metadata of the resent request."""
    import transformers

    frames = [smooth_frames(4, 56, 112), smooth_frames(2, 56, 112)]
    messages = conversation(video(frames[0], 0.25), video(frames[1], 2.0))
    engine = OpenAIEngine("http://127.0.0.1:9", model="m")
    first = engine.build_request(messages, max_new_tokens=1)["mm_processor_kwargs"]
    engine._metadata_only = True  # what a refusal of the fps list switches on
    resent = engine.build_request(messages, max_new_tokens=1)["mm_processor_kwargs"]
    assert "fps" not in resent and resent["video_metadata"] == first["video_metadata"]
    if int(transformers.__version__.split(".")[0]) >= 5:
        with pytest.raises(Exception, match="fps"):
            _processor_times(first, frames)
        assert _processor_times(resent, frames) == [8.0, 1.0]
    else:
        assert _processor_times(first, frames) == [8.0, 1.0]


def test_a_refused_fps_list_is_resent_as_metadata_only(scripted_server):
    # vLLM 0.26 under transformers 5: its processor call fails and the 400 names the call only.
    refusal = {"error": {"message": "Failed to apply Qwen2_5_VLProcessor on data={'text': "
                                    "'<|video_pad|><|video_pad|>', 'videos': [...]} with kwargs={'fps': [0.25, 2.0]}"}}
    scripted_server.script += [(400, refusal), (200, _completion("<answer>A</answer>")),
                               (200, _completion("<answer>B</answer>"))]
    port = scripted_server.server_address[1]
    two = conversation(video(smooth_frames(4), 0.25), video(smooth_frames(2), 2.0))
    with OpenAIEngine(f"http://127.0.0.1:{port}", model="m", backoff_seconds=0.01) as engine:
        assert engine.generate(two, max_new_tokens=5).text == "<answer>A</answer>"
        assert engine.generate(two, max_new_tokens=5).text == "<answer>B</answer>"
    sent = [r[2]["mm_processor_kwargs"] for r in scripted_server.requests]
    assert sent[0]["fps"] == [0.25, 2.0]
    assert "fps" not in sent[1] and "fps" not in sent[2]
    assert [m["fps"] for m in sent[2]["video_metadata"]] == [0.25, 2.0]


def test_other_400s_are_not_resent(scripted_server):
    scripted_server.script += [(400, {"error": "Failed to apply Qwen2_5_VLProcessor: video too long"}),
                               (200, _completion("x"))]
    port = scripted_server.server_address[1]
    with OpenAIEngine(f"http://127.0.0.1:{port}", model="m", backoff_seconds=0.01) as engine:
        with pytest.raises(EngineError, match="video too long"):
            engine.generate(conversation(video(smooth_frames(4), 2.0)), max_new_tokens=5)
    assert len(scripted_server.requests) == 1  # one video: fps was a number, not the cause


def test_mkv_request_for_swift_is_lossless_with_the_true_rate():
    av = pytest.importorskip("av")
    frames = np.random.default_rng(0).integers(0, 256, (3, 56, 84, 3), dtype=np.uint8)
    engine = OpenAIEngine("http://127.0.0.1:9", model="m", video_format="mkv")
    body = engine.build_request(conversation(video(frames, 0.2073)), max_new_tokens=1)
    assert "mm_processor_kwargs" not in body
    url = body["messages"][1]["content"][0]["video_url"]["url"]
    prefix = "data:video/x-matroska;base64,"
    assert url.startswith(prefix)
    with av.open(io.BytesIO(base64.b64decode(url[len(prefix):]))) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == fractions.Fraction(0.2073).limit_denominator(100000)
        got = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
    np.testing.assert_array_equal(got, np.concatenate([frames, frames[-1:]]))


def test_expected_visual_tokens():
    assert expected_visual_tokens(np.zeros((4, 56, 56, 3), np.uint8)) == 8
    assert expected_visual_tokens(np.zeros((5, 112, 84, 3), np.uint8)) == 3 * 4 * 3


# -- errors and retries against real local HTTP servers ---------------------------------------


class _Scripted(QuietHandler):
    """Replies with the next (status, json) of the server's script; records the requests."""

    def _reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((self.command, self.path, body))
        status, payload = self.server.script.pop(0) if self.server.script else (500, {})
        self.send_json(status, payload)

    do_GET = do_POST = _reply


@pytest.fixture
def scripted_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.script, server.requests = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _completion(text: str, finish: str = "stop", **extra) -> dict:
    return {"choices": [{"message": {"role": "assistant", "content": text},
                         "finish_reason": finish, **extra}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3}}


def test_5xx_is_retried_then_succeeds(scripted_server):
    scripted_server.script += [(503, {"error": "warming up"}), (502, {}),
                               (200, _completion("<answer>B</answer>"))]
    port = scripted_server.server_address[1]
    with OpenAIEngine(f"http://127.0.0.1:{port}", model="m", backoff_seconds=0.01) as engine:
        gen = engine.generate(conversation(video(smooth_frames(4), 2.0)), max_new_tokens=5)
    assert gen.text == "<answer>B</answer>" and gen.finish_reason == "stop"
    assert (gen.prompt_tokens, gen.completion_tokens, gen.visual_tokens) == (11, 3, 12)
    assert [r[1] for r in scripted_server.requests] == ["/v1/chat/completions"] * 3


def test_4xx_is_not_retried_and_names_the_url(scripted_server):
    scripted_server.script += [(400, {"error": "bad video"})]
    port = scripted_server.server_address[1]
    with OpenAIEngine(f"http://127.0.0.1:{port}/v1", model="m", backoff_seconds=0.01) as engine:
        with pytest.raises(EngineError) as info:
            engine.generate(conversation(), max_new_tokens=5)
    message = str(info.value)
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in message
    assert "HTTP 400" in message and "bad video" in message
    assert len(scripted_server.requests) == 1


def test_a_long_error_body_keeps_its_reason_at_the_end(scripted_server):
    # vLLM's 400 for a processor failure: the data's repr (megabytes of arrays), then the reason.
    body = "Failed to apply Qwen2_5_VLProcessor on data={'videos': [" + "[32, 36, 39], " * 5000 + \
           "]} with kwargs={}: Validation error for field 'fps'"
    scripted_server.script += [(400, {"error": {"message": body}})]
    port = scripted_server.server_address[1]
    with OpenAIEngine(f"http://127.0.0.1:{port}", model="m", backoff_seconds=0.01) as engine:
        with pytest.raises(EngineError) as info:
            engine.generate(conversation(), max_new_tokens=5)
    message = str(info.value)
    assert "Failed to apply Qwen2_5_VLProcessor" in message
    assert "Validation error for field 'fps'" in message
    assert "characters left out" in message and len(message) < 2000


def test_connection_refused_gives_up_after_bounded_retries():
    port = free_port()  # nothing listens here any more
    engine = OpenAIEngine(f"http://127.0.0.1:{port}", model="m", max_retries=2,
                          backoff_seconds=0.05, connect_timeout=2.0)
    started = time.perf_counter()
    with pytest.raises(EngineError, match=f"127.0.0.1:{port}/v1/chat/completions.*3 tries"):
        engine.generate(conversation(), max_new_tokens=5)
    assert time.perf_counter() - started >= 0.05 + 0.1  # backoff 0.05 then 0.1 s


def test_model_id_is_asked_once_and_stop_string_restored(scripted_server):
    scripted_server.script += [
        (200, {"data": [{"id": "served-model"}]}),
        # vLLM without include_stop_str_in_output: the stop string is cut, stop_reason says which.
        (200, _completion("<think>x</think><answer>C", stop_reason="</answer>")),
        (200, _completion("more", finish="length")),
    ]
    port = scripted_server.server_address[1]
    with OpenAIEngine(f"http://127.0.0.1:{port}", backoff_seconds=0.01) as engine:
        gen = engine.generate(conversation(), max_new_tokens=5, stop=["</answer>"])
        again = engine.generate(conversation(), max_new_tokens=5)
    assert gen.text == "<think>x</think><answer>C</answer>"
    assert again.finish_reason == "length"
    methods = [(r[0], r[1]) for r in scripted_server.requests]
    assert methods == [("GET", "/v1/models"), ("POST", "/v1/chat/completions"),
                       ("POST", "/v1/chat/completions")]
    assert scripted_server.requests[1][2]["model"] == "served-model"


# -- a real `swift deploy` on CPU -----------------------------------------------------------


@pytest.fixture(scope="module")
def swift_server(tiny_model_dir, tmp_path_factory):
    """`swift deploy --infer_backend pt` on CPU in float32, serving the tiny model.

    qwen-vl-utils (inside ms-swift) must keep our 56-px frames as they are: its video pixel
    floor is lowered to one 56x56 frame, and FPS stays 2.0 (we send at most 2 fps). Its
    video reader is pinned to decord, the one ms-swift teaches to read base64 in memory
    (with torchcodec installed, qwen-vl-utils would pick it and fail on a data: URL).
    """
    pytest.importorskip("swift")
    pytest.importorskip("decord", reason="the mkv transport needs decord on the server")
    port = free_port()
    workdir = tmp_path_factory.mktemp("swift_deploy")
    log_path = workdir / "server.log"
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "HF_HUB_OFFLINE": "1",
        "VIDEO_MIN_PIXELS": str(56 * 56),
        "VIDEO_MAX_PIXELS": str(768 * 28 * 28),
        "VIDEO_TOTAL_PIXELS": str(10**8),
        "FPS": "2.0",
        "FORCE_QWENVL_VIDEO_READER": "decord",
    }
    cmd = [sys.executable, "-m", "swift.cli.deploy", "--model", str(tiny_model_dir),
           "--model_type", "qwen2_5_vl", "--template", "qwen2_5_vl", "--infer_backend", "pt",
           "--torch_dtype", "float32", "--port", str(port), "--host", "127.0.0.1"]
    with open(log_path, "wb") as log:
        # Own session, so teardown can end the server and anything it spawned by group id.
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            if proc.poll() is not None:
                pytest.fail(f"swift deploy exited ({proc.returncode}):\n{_tail(log_path)}")
            try:
                if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"swift deploy not up after 240 s:\n{_tail(log_path)}")
            time.sleep(1)
        yield url
    finally:
        _stop_group(proc)


def _tail(path: Path, n: int = 4000) -> str:
    return path.read_bytes()[-n:].decode("utf-8", "replace")


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.slow
def test_swift_deploy_sees_the_same_frames_and_time_as_the_local_engine(
    swift_server, local_engine, tiny_model_dir
):
    frames = np.random.default_rng(0).integers(0, 256, (4, 56, 56, 3), dtype=np.uint8)
    texts = {}
    with OpenAIEngine(swift_server, video_format="mkv", timeout=60) as remote:
        assert remote.model == tiny_model_dir.name  # ms-swift serves the directory name
        for fps in (1.0, 0.5):
            messages = conversation(video(frames, fps))
            want = local_engine.generate(messages, max_new_tokens=12)
            got = remote.generate(messages, max_new_tokens=12)
            # Same prompt (ms-swift's qwen2_5_vl template renders our system turn the same
            # way), same pixels, same second_per_grid_ts: the same greedy tokens.
            assert got.text == want.text, fps
            assert got.prompt_tokens == want.prompt_tokens
            assert got.visual_tokens == want.visual_tokens == 8
            assert got.completion_tokens == 12 and got.finish_reason == "length"
            texts[fps] = got.text
    assert texts[1.0] != texts[0.5]  # the rate reached the model's temporal positions


@pytest.mark.slow
def test_swift_deploy_stop_strings_and_concurrent_callers(swift_server):
    messages = conversation(video(smooth_frames(4, 56, 56), 2.0))
    with OpenAIEngine(swift_server, video_format="mkv", timeout=60) as remote:
        full = remote.generate(messages, max_new_tokens=12)
        stop = full.text.split()[3]
        stopped = remote.generate(messages, max_new_tokens=12, stop=["</answer>", stop])
        assert stopped.text.endswith(stop) and full.text.startswith(stopped.text)
        assert stopped.completion_tokens < full.completion_tokens
        assert stopped.finish_reason == "stop"
        # One engine shared by threads: every caller gets the greedy reference.
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: remote.generate(messages, max_new_tokens=12),
                                    range(3)))
    assert [r.text for r in results] == [full.text] * 3


@pytest.mark.slow
def test_agent_loop_against_the_swift_server(swift_server, tmp_path):
    """The agent's whole loop — overview, a tool call answered with a clip, a bad call, the
    answer — through a real OpenAI-compatible server serving the tiny model. The reply texts
    are scripted (a random model writes no calls); every turn is a real request whose prompt
    grows by the clip the agent sent."""
    from videotemp_o3 import protocol
    from videotemp_o3.agent import Agent, AgentConfig, Question
    from videotemp_o3.engines.base import Engine, Generation
    from videotemp_o3.testing.videos import make_indexed_video
    from videotemp_o3.video import FrameBudget

    class ScriptedRemote(Engine):
        def __init__(self, remote, replies):
            self.remote, self.replies, self.prompts = remote, list(replies), []

        def generate(self, messages, **kw):
            real = self.remote.generate(messages, **{**kw, "max_new_tokens": 2})
            self.prompts.append(real.prompt_tokens)
            return Generation(self.replies.pop(0), real.prompt_tokens, real.completion_tokens,
                              real.visual_tokens, real.prefill_seconds, real.decode_seconds)

    video = make_indexed_video(tmp_path / "v.mp4", frames=300, fps=10, size=(96, 160), gop=50)
    budget = dict(max_pixels=28 * 28 * 8, min_pixels=28 * 28 * 4)
    config = AgentConfig(overview_budget=FrameBudget(nframes=4, **budget),
                         clip_budget=FrameBudget(fps=1.0, max_frames=8, **budget), max_new_tokens=8)
    replies = [protocol.render_turn("look", segments=[(5.0, 11.0)]),
               "<think>again</think><tool_call>[20, 10]</tool_call>",
               protocol.render_turn("done", answer="A")]
    with OpenAIEngine(swift_server, video_format="mkv", timeout=120) as remote:
        engine = ScriptedRemote(remote, replies)
        traj = Agent(engine, config).run(video, Question("Which frame?", "mcq", ["one", "two"]))
    assert traj.error is None, traj.error
    assert traj.prediction == "A" and traj.segments == [[5.0, 11.0]]
    assert traj.turns[0].clips[0].frames == 6 and traj.turns[1].rejected["problem"] == "reversed"
    # The server saw the clip: turn 2's prompt holds the clip's visual tokens beyond turn 1's.
    assert engine.prompts[1] > engine.prompts[0] + 6 // 2 * 4
    assert engine.prompts[2] > engine.prompts[1]
