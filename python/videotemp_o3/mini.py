"""A miniature reproduction of VideoTemp-o3's recipe and its two ablations on one GPU.

    bash scripts/reproduce_mini.sh                      # = python -m videotemp_o3.mini run
    DEVICE=cpu MINI_SCALE=smoke bash scripts/reproduce_mini.sh   # the same plumbing, tiny, on CPU

From nothing: the synthetic task family (:mod:`videotemp_o3.synthetic`: train / val / test
splits), a small random-initialised Qwen2.5-VL (:mod:`videotemp_o3.testing.tiny_model`, size
``compact``; the first three GPU runs trained ``small``), and then only the project's public
entry points, each in its own process:

1. **data** — the splits; SFT trajectories with ``python -m videotemp_o3.training.sft_data
   build`` (imprecise → refined calls, answers; the builder's unified masking; 30 % of them
   recovery trajectories — a first call the clip tool rejects, its feedback, a valid call, the
   answer — with the rejected call never trained), the same records with every assistant round
   but a rejected call trained (the "all rounds" ablation), direct answers without the
   tool (``--no-tool-calls``, the single-pass baseline); GRPO rows with ``python -m
   videotemp_o3.training.rl_data build``.
2. **sft** — three ``bash sft/sft.sh`` runs side by side on the one GPU: all rounds, unified
   masking, single pass.
3. **grpo** — two ``bash rl/grpo.sh`` runs (colocate, the trainer's own PyTorch engine, our
   ``videotemp_clips`` scheduler answering every call with real clips from our video layer)
   from the unified-masking checkpoint: with the penalty-aware IoU reward (the recipe) and with
   the IoU reward without its penalty (the ablation).
4. **eval** — ``eval/run.py`` (embedded engine) on the held-out test split for every stage and
   on the validation split for the candidates of the shipped agent; ``eval/score.py --json``.
   Evaluation runs alongside training wherever its checkpoint is ready.
5. **report** — the table (MCQ accuracy, grounding mIoU, R@0.5, tool-call rate, mean turns,
   well-formed rate, IoU of the last call; sample sizes), a plot (mIoU and accuracy by
   video-length bin per stage), the wall time of every stage, the oracle measurement of the
   task, and the best checkpoint *by validation score* packed for shipping.

The test split is read by nothing but the evaluation of the final table.

Everything the run writes lives under ``--work`` (data, checkpoints, logs); what comes back
from a GPU machine is ``--results`` (at most 8 files: ``table.md``, ``results.json``,
``plot.png``, ``logs.tar.gz``, ``best.tar.gz`` — split into parts below 15 MB when larger).

Time: the model has to learn *when* from its frames. The family burns a clock into every frame
(the elapsed seconds in large digits), so the overview's frames say what time they show and
the agent's calls can be read off the pixels; Qwen2.5-VL's time-aligned rotary positions are
kept as they are but are not what this small model relies on. Nothing in the protocol changes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from videotemp_o3 import protocol, synthetic
from videotemp_o3.jsonl import dumps_line, iter_jsonl
from videotemp_o3.segments import iou
from videotemp_o3.training.sft_data import calls_not_carried_out
from videotemp_o3.training.swift_media import overview_tag_count

def _repo() -> Path:
    """The checkout whose scripts (sft/sft.sh, rl/grpo.sh, eval/run.py) the run drives:
    ``VIDEOTEMP_REPO`` (scripts/reproduce_mini.sh sets it), else the working directory when it
    is one, else the source tree this module lies in (an editable install)."""
    env = os.environ.get("VIDEOTEMP_REPO")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd()
    if (cwd / "sft" / "sft.sh").is_file():
        return cwd.resolve()
    return Path(__file__).resolve().parents[2]


REPO = _repo()

SFT_RECOVERY = 0.3
"""Share of the SFT trajectories (every scale) that start with a call the clip tool rejects,
its feedback, then the accurate call and the answer (``sft_data build --recovery``)."""

# ---------------------------------------------------------------------------------------------
# Scales
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """How big a run is. ``full`` is the GPU run; ``smoke`` checks the plumbing on a CPU."""

    name: str
    train: int
    val: int
    test: int
    sft_epochs: float
    sft_lr: float
    sft_batch: int
    sft_max_steps: int
    """-1: the epochs decide."""
    sft_workers: int
    """Data-loader processes per SFT arm, at most: the three arms share the machine's cores
    (:func:`sft_loader_workers`)."""
    sft_time_limit_s: float
    """A training run stops (and saves) after this long whatever its schedule: the time budget
    is a hard constraint of the miniature, so it is enforced, and the report says if it bit."""
    grpo_steps: int
    grpo_generations: int
    grpo_batch: int
    grpo_lr: float
    grpo_time_limit_s: float
    max_completion: int
    max_new_tokens: int
    eval_shards: int
    """Processes per (stage, split, task) evaluation on the test split."""
    budget_s: Optional[float]
    """Evaluations still running this long after the start are stopped (None: no limit)."""
    sft_end_s: Optional[float] = None
    grpo_end_s: Optional[float] = None
    """Seconds after the start by which the SFT (GRPO) arms should have stopped, so that what
    follows still fits the budget when the data took longer than planned: a training run's time
    limit is the smaller of its own and what is left until its mark (less
    :data:`TRAINING_STARTUP_S`), and never below :data:`MIN_TRAINING_S`. None: no mark."""
    model: str = "compact"
    """The size of :mod:`videotemp_o3.testing.tiny_model` trained from random init. ``compact``
    (a vocabulary of under a thousand ids, a 256-wide body) since the third GPU run, which
    trained ``small`` (hidden 64: Qwen's 151665-id embedding held 9.7 M of its 10.4 M
    parameters) and saw it learn the protocol's words but not its numbers."""
    overview_times: bool = False
    """A timed overview everywhere — SFT data, GRPO rows, evaluation: the overview as two-frame
    videos, each after the time of its first frame in text
    (:func:`videotemp_o3.protocol.timed_overview`), so that the model can read *when* from text
    rather than from the clock's pixels or its rotary positions. ``MINI_OVERVIEW_TIMES=1`` or
    ``--overview-times`` turns it on for any scale."""


SCALES = {
    "full": Scale(name="full", train=512, val=32, test=64,
                  sft_epochs=6, sft_lr=1e-3, sft_batch=8, sft_max_steps=-1, sft_workers=8,
                  sft_time_limit_s=200, grpo_steps=40, grpo_generations=8, grpo_batch=8,
                  grpo_lr=1e-4, grpo_time_limit_s=60, max_completion=160, max_new_tokens=160,
                  eval_shards=4, budget_s=540, sft_end_s=350, grpo_end_s=450),
    "smoke": Scale(name="smoke", train=4, val=4, test=4,
                   sft_epochs=1, sft_lr=1e-3, sft_batch=2, sft_max_steps=3, sft_workers=0,
                   sft_time_limit_s=600, grpo_steps=1, grpo_generations=2, grpo_batch=2,
                   grpo_lr=5e-5, grpo_time_limit_s=600, max_completion=48, max_new_tokens=48,
                   eval_shards=1, budget_s=None),
}

TRAINING_STARTUP_S = 45.0
"""What a training process spends before its first step (imports, model, dataset): the time
limit counts from the first step."""
MIN_TRAINING_S = 30.0


def training_limit(own_s: float, mark_s: Optional[float], elapsed_s: float) -> float:
    """A training run's time limit in seconds: ``own_s``, cut to what is left until ``mark_s``
    (seconds after the start; ``elapsed_s`` have passed) less the start-up, at least
    :data:`MIN_TRAINING_S`."""
    if mark_s is None:
        return own_s
    return max(MIN_TRAINING_S, min(own_s, mark_s - elapsed_s - TRAINING_STARTUP_S))


STAGES = ("random_init", "single_pass", "sft_all_rounds", "sft_unified", "grpo_no_penalty",
          "grpo_penalty")
STAGE_TITLES = {
    "random_init": "random init",
    "single_pass": "single pass (overview only, no tool)",
    "sft_all_rounds": "SFT, all rounds trained",
    "sft_unified": "SFT, unified masking",
    "grpo_no_penalty": "+ GRPO, IoU reward without penalty",
    "grpo_penalty": "+ GRPO, penalty-aware IoU reward",
}
TOOL_STAGES = ("sft_all_rounds", "sft_unified", "grpo_no_penalty", "grpo_penalty")
"""The candidates for the shipped agent (they call the tool), chosen on the validation split."""
TASKS = ("videotemp", "videotemp-g")
PLUGIN = REPO / "scripts" / "mini" / "mini_plugin.py"
"""ms-swift plug-in of the run: the time limit callback and the no-penalty IoU reward. Its file
name must differ from the other plug-ins': ms-swift imports each by its base name."""


def _env_base(device: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(synthetic.SWIFT_ENV)
    env.update({
        "VIDEOTEMP_CLIP_MAX_FRAMES": str(synthetic.CLIP_MAX_FRAMES),
        "VIDEOTEMP_CLIP_MIN_FRAMES": "4",
        "VIDEOTEMP_CLIP_FPS": "2.0",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
    })
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


@dataclass
class Job:
    """One process of the run: its command, environment and log; times once it has run."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path = REPO
    stoppable: bool = False
    """The runner's deadline may stop it (evaluations; training keeps its own time limit)."""
    gpu: bool = False
    """It runs on a GPU: with several, the runner gives it one of its own (round robin)."""
    started: float = math.nan
    ended: float = math.nan
    returncode: Optional[int] = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class Runner:
    """Runs jobs as child processes, all at once or in waves, and keeps their timings.

    ``deadline`` (a ``time.time()`` value): jobs still running then are stopped (SIGTERM, then
    SIGKILL) and recorded as ``stopped``; what they wrote stays (``eval/run.py`` appends each
    answered question at once), so the report scores what was answered and says how many."""

    def __init__(self, log_dir: Path, deadline: Optional[float] = None,
                 gpus: Sequence[str] = ()):
        self.log_dir = log_dir
        self.deadline = deadline
        self.gpus = list(gpus)
        self.done: list[Job] = []
        self.stopped: list[str] = []
        self.failed: list[Job] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def run(self, jobs: Sequence[Job], *, label: str, tolerate: bool = False) -> list[Job]:
        """Starts every job, waits for all; raises naming the first that failed (with the end
        of its log) after the others have finished, so that their work is not lost — or, with
        ``tolerate``, returns the failed jobs (also kept in ``failed``) for the caller to carry
        on without them. The deadline stops only jobs marked ``stoppable``."""
        running = []
        on_gpu = 0
        for job in jobs:
            if job.gpu and len(self.gpus) > 1:
                # Each process sees one GPU: the wave's GPU jobs are dealt out in order, so the
                # caller puts the one on the critical path where it shares least.
                job.env = dict(job.env, CUDA_VISIBLE_DEVICES=self.gpus[on_gpu % len(self.gpus)])
                on_gpu += 1
            job.log.parent.mkdir(parents=True, exist_ok=True)
            f = open(job.log, "w")
            job.started = time.time()
            proc = subprocess.Popen(job.cmd, env=job.env, cwd=job.cwd, stdout=f,
                                    stderr=subprocess.STDOUT)
            running.append((job, proc, f))
        _say(f"{label}: {len(jobs)} process(es): {', '.join(j.name for j in jobs)}"
             + (f" over GPUs {','.join(self.gpus)}" if on_gpu and len(self.gpus) > 1 else ""))
        failed = []
        while running:
            if self.deadline is not None and time.time() > self.deadline:
                late = [item for item in running if item[0].stoppable]
                for _job, proc, _f in late:
                    proc.terminate()
                for item in late:
                    job, proc, f = item
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                    job.ended, job.returncode = time.time(), 0
                    f.close()
                    running.remove(item)
                    self.done.append(job)
                    self.stopped.append(job.name)
                    _say(f"  {job.name}: stopped at the deadline after {job.seconds:.0f} s")
            for item in list(running):
                job, proc, f = item
                rc = proc.poll()
                if rc is None:
                    continue
                job.ended, job.returncode = time.time(), rc
                f.close()
                running.remove(item)
                self.done.append(job)
                _say(f"  {job.name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} "
                     f"in {job.seconds:.0f} s")
                if rc != 0:
                    failed.append(job)
            time.sleep(0.5)
        self.failed += failed
        if failed and tolerate:
            return failed
        if failed:
            job = failed[0]
            tail = job.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{job.name} failed (exit {job.returncode}); log {job.log}:\n{tail}")
        return []


def _say(msg: str) -> None:
    print(f"[mini {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def benchmark_questions(split_dir: Path) -> list[tuple[Any, Any]]:
    """(MCQ item, grounding item) per video of a split, read by the benchmark modules
    themselves — so that training asks exactly what ``eval/run.py`` will ask (the grounding
    query is whatever ``videotemp-g`` makes of the record)."""
    from videotemp_o3.benchmarks import get_benchmark

    mcq = get_benchmark("videotemp").load(split_dir)
    grounding = {i.uid: i for i in get_benchmark("videotemp-g").load(split_dir)}
    return [(m, grounding[m.uid]) for m in mcq]


def sft_annotations(split_dir: Path) -> list[dict]:
    """Annotations for ``sft_data build``: one MCQ and one grounding per video, the card's span
    as the evidence."""
    out = []
    for mcq, grounding in benchmark_questions(split_dir):
        span = list(mcq.spans[0])
        out.append({"id": f"{mcq.uid}:mcq", "video": str(mcq.video), "span": span,
                    "question": mcq.question, "options": list(mcq.options), "answer": mcq.answer})
        out.append({"id": f"{mcq.uid}:grounding", "video": str(grounding.video), "span": span,
                    "query": grounding.question})
    return out


def rl_annotations(split_dir: Path) -> list[dict]:
    """Annotations for ``rl_data build`` (its documented fields), the same questions as
    :func:`sft_annotations`: a QA record and a grounding record per video."""
    out = []
    for mcq, grounding in benchmark_questions(split_dir):
        span = list(mcq.spans[0])
        out.append({"uid": f"{mcq.uid}:mcq", "video": str(mcq.video), "question": mcq.question,
                    "options": [o.split(". ", 1)[1] for o in mcq.options], "answer": mcq.answer,
                    "timestamp": span, "duration": mcq.duration})
        out.append({"uid": f"{mcq.uid}:grounding", "video": str(grounding.video),
                    "query": grounding.question, "span": span, "duration": grounding.duration})
    return out


def _overview_file(args: tuple[str, str]) -> tuple[str, str]:
    """(source, the lossless file of its overview): see :func:`presample_overviews`."""
    source, out_dir = args
    from videotemp_o3.training.swift_media import clip_for_swift
    from videotemp_o3.video import FrameBudget, VideoReader

    reader = VideoReader(source, num_threads=1)
    # ms-swift's own sampling of a whole video under its environment (qwen-vl-utils): the
    # environment's budget over [0, duration].
    clip = clip_for_swift(reader, 0.0, reader.duration_seconds, FrameBudget.from_env(), out_dir)
    return source, clip.path


def presample_overviews(records: list[dict], out_dir: Path, workers: int) -> dict[str, str]:
    """Each distinct overview video (``videos[0]``) of the SFT records, written once as the
    frames ms-swift would sample from it — a small lossless file at their true rate (the clip
    files' format, :func:`videotemp_o3.training.swift_media.clip_for_swift`), so that ms-swift's
    reader gets the same frames, at the same temporal positions, without seeking through a long
    H.264 file for every sample of every epoch (measured: decord's 32-frame seek is most of
    the cost of encoding one trajectory). Returns source → file."""
    from concurrent.futures import ProcessPoolExecutor

    sources = sorted({r["videos"][0] for r in records})
    jobs = [(src, str(out_dir)) for src in sources]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            return dict(pool.map(_overview_file, jobs, chunksize=4))
    return dict(map(_overview_file, jobs))


def with_overview(record: dict, overviews: dict[str, str]) -> dict:
    return dict(record, videos=[overviews[record["videos"][0]], *record["videos"][1:]])


def all_rounds(record: dict) -> dict:
    """The record with every assistant round trained (ms-swift's per-message ``loss``) except a
    tool call that was not carried out (:func:`~videotemp_o3.training.sft_data.calls_not_carried_out`:
    the recovery trajectories' rejected first call). The ablation is about the imprecise calls,
    which the agent carries out; a rejected call is a mistake no arm should learn to make — it
    is in the data only so that the model learns to recover from it — so it stays untrained in
    both arms, and the arms differ in the masking of the imprecise calls alone."""
    rejected = set(calls_not_carried_out(record["messages"]))
    messages = [dict(m, loss=k not in rejected) if m.get("role") == "assistant" else m
                for k, m in enumerate(record["messages"])]
    return dict(record, messages=messages)


def _write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(dumps_line(row))
            n += 1
    tmp.replace(path)
    return n


def _read_jsonl(path: Path) -> list[dict]:
    return [line.value for line in iter_jsonl(path)]


def sft_build_command(python: str, annotations: Path, seed: int, clips_dir: Path,
                      overview_times: bool = False) -> list[str]:
    """The SFT data builder's command line for the miniature (every scale), less ``-o``."""
    return [python, "-m", "videotemp_o3.training.sft_data", "build", str(annotations),
            "--clip-max-frames", str(synthetic.CLIP_MAX_FRAMES), "--seed", str(seed),
            "--clips-dir", str(clips_dir),
            # One phrasing per reasoning step: the 10 M-parameter model mixed the builder's
            # several phrasings into garbled turns (the first GPU run: 22 % well formed).
            "--wording", "fixed",
            # Recovery turns: the second GPU run's first calls were mostly rejected (empty, too
            # short, reversed) and the model, which had never seen the rejection feedback,
            # derailed; a share of the trajectories shows one, then a valid call.
            "--recovery", str(SFT_RECOVERY),
            # The overview's frame times in text (Scale.overview_times).
            *(["--overview-times"] if overview_times else [])]


def stage_data(work: Path, scale: Scale, seed: int, runner: Runner, device: str, workers: int,
               python: str) -> dict:
    """Splits, SFT data (three arms), RL data. Returns sizes for the report."""
    data = work / "data"
    for split, count in (("train", scale.train), ("val", scale.val), ("test", scale.test)):
        synthetic.make_split(data / split, split, count, seed=seed, workers=workers, progress=False)
    _say(f"splits: train {scale.train}, val {scale.val}, test {scale.test} videos in {data}")

    sft = work / "sft"
    anns = sft_annotations(data / "train")
    shards = max(1, min(workers, len(anns) // 2))
    env = _env_base(device)
    jobs = []
    per = math.ceil(len(anns) / shards)
    for k in range(shards):
        src = sft / "ann" / f"part{k:02d}.jsonl"
        _write_jsonl(src, anns[k * per:(k + 1) * per])
        # The builder seeds each record from (seed, line number): a seed per shard keeps the
        # shards' random choices independent.
        common = sft_build_command(python, src, seed * 1000 + k, sft / "clips", scale.overview_times)
        jobs.append(Job(f"sft-data-{k}", common + ["-o", str(sft / "tool" / f"part{k:02d}.jsonl")],
                        env, runner.log_dir / "data" / f"sft_tool_{k}.log"))
        jobs.append(Job(f"sft-direct-{k}", common + ["-o", str(sft / "direct" / f"part{k:02d}.jsonl"),
                                                     "--no-tool-calls"],
                        env, runner.log_dir / "data" / f"sft_direct_{k}.log"))
    rl = work / "rl"
    rl_ann = _write_jsonl(sft / "ann" / "rl.jsonl", rl_annotations(data / "train")) and sft / "ann" / "rl.jsonl"
    jobs.append(Job("rl-data", [python, "-m", "videotemp_o3.training.rl_data", "build",
                                str(rl_ann), "--out", str(rl),
                                *(["--overview-times"] if scale.overview_times else [])],
                    env, runner.log_dir / "data" / "rl_data.log"))
    runner.run(jobs, label="data")
    parts = [sft / kind / f"part{k:02d}.jsonl" for kind in ("tool", "direct") for k in range(shards)]
    runner.run([Job("sft-validate", [python, "-m", "videotemp_o3.training.sft_data", "validate",
                                     *map(str, parts)], env, runner.log_dir / "data" / "sft_validate.log")],
               label="validate the SFT data as built")

    unified = [r for k in range(shards) for r in _read_jsonl(sft / "tool" / f"part{k:02d}.jsonl")]
    direct = [r for k in range(shards) for r in _read_jsonl(sft / "direct" / f"part{k:02d}.jsonl")]
    if scale.overview_times:
        # The builder wrote each timed overview's pieces already: the frames ms-swift samples,
        # in lossless files (what the pre-sampled overview file is for the plain overview).
        overview_files = len({v for r in unified + direct
                              for v in r["videos"][:overview_tag_count(r["messages"])]})
    else:
        os.environ.update(synthetic.SWIFT_ENV)  # the budget the overview files are sampled under
        overviews = presample_overviews(unified + direct, sft / "overviews", workers)
        unified = [with_overview(r, overviews) for r in unified]
        direct = [with_overview(r, overviews) for r in direct]
        overview_files = len(overviews)
    sizes = {
        "sft_unified": _write_jsonl(sft / "sft_unified.jsonl", unified),
        "sft_all_rounds": _write_jsonl(sft / "sft_all_rounds.jsonl", map(all_rounds, unified)),
        "single_pass": _write_jsonl(sft / "single_pass.jsonl", direct),
        "rl_rows": sum(len(_read_jsonl(p)) for p in sorted(rl.glob("*.jsonl"))),
        "overview_files": overview_files,
    }
    masked = sum(1 for r in unified for m in r["messages"]
                 if m.get("role") == "assistant" and m.get("loss") is False)
    sizes["unified_rounds_masked"] = masked
    sizes["recovery_trajectories"] = sum(1 for r in unified if calls_not_carried_out(r["messages"]))
    sizes["assistant_rounds"] = sum(1 for r in unified for m in r["messages"] if m.get("role") == "assistant")
    _say(f"SFT data: {sizes['sft_unified']} trajectories ({masked} of "
         f"{sizes['assistant_rounds']} assistant rounds masked), {sizes['single_pass']} direct "
         f"answers; RL rows: {sizes['rl_rows']}")
    return sizes


def oracle_job(work: Path, python: str, log_dir: Path) -> Job:
    """The oracle on the validation split (never the test split), as a process of its own."""
    return Job("oracle", [python, "-m", "videotemp_o3.synthetic", str(work / "data" / "val"), "--oracle",
                          "--output", str(work / "oracle.json")], _env_base("cpu"), log_dir / "data" / "oracle.log")


# ---------------------------------------------------------------------------------------------
# Training jobs
# ---------------------------------------------------------------------------------------------


def sft_loader_workers(scale: Scale, cores: int, arms: int = 3) -> int:
    """Data-loader processes per SFT arm: the cores left after the arms' own processes and a
    few for the rest, shared by the arms, capped by the scale (4 on 16 cores, 8 on 32)."""
    if scale.sft_workers <= 0:
        return 0
    return max(1, min(scale.sft_workers, (cores - 4) // arms))


def sft_job(arm: str, data: Path, model: Path, out: Path, scale: Scale, seed: int, device: str,
            log: Path, time_limit_s: Optional[float] = None) -> Job:
    env = _env_base(device)
    env.update({
        "DEVICE": device, "MODEL": str(model), "MODEL_TYPE": "qwen2_5_vl", "DATA": str(data),
        # float32 weights (bf16 autocast on the GPU, below): a model this small trained at this
        # learning rate loses its late, small updates in pure bfloat16.
        "DTYPE": "float32",
        "OUTPUT_DIR": str(out), "EPOCHS": str(scale.sft_epochs), "LR": str(scale.sft_lr),
        "GRAD_ACC": "1", "BATCH_SIZE": str(scale.sft_batch), "MAX_LENGTH": "2048",
        "MAX_STEPS": str(scale.sft_max_steps), "WARMUP_RATIO": "0.05", "SAVE_STEPS": "100000",
        "SAVE_TOTAL_LIMIT": "1", "SAVE_ONLY_MODEL": "true", "LOGGING_STEPS": "5",
        "SEED": str(seed), "GRADIENT_CHECKPOINTING": "false", "FREEZE_VIT": "false",
        "FREEZE_ALIGNER": "false", "DATASET_NUM_PROC": "1",
        # Validated as built (stage_data); after the overview was swapped for its pre-sampled
        # file the validator would take that file's frame rate for the video's.
        "VALIDATE": "0",
        "DATALOADER_NUM_WORKERS": str(sft_loader_workers(scale, os.cpu_count() or 2)), "REPORT_TO": "none", "DEEPSPEED": "none",
        "VIDEOTEMP_MINI_TIME_LIMIT_S": str(time_limit_s or scale.sft_time_limit_s),
    })
    # sft.sh adds its own plug-ins (sft/plugin.py; on CPU the shim sft/cpu_compat.py); ms-swift
    # keeps only the last --external_plugins, so name them all.
    plugins = [str(REPO / "sft" / "plugin.py"), str(PLUGIN)]
    if device == "cpu":
        plugins.insert(0, str(REPO / "sft" / "cpu_compat.py"))
    extra = ["--check_model", "false", "--external_plugins", *plugins, "--weight_decay", "0.0",
             "--save_strategy", "steps", "--lazy_tokenize", "true"]
    if device == "cuda":
        # ms-swift defaults a float32 model to fp16 autocast; bf16 needs no loss scaling.
        extra += ["--bf16", "true", "--fp16", "false"]
    return Job(f"sft:{arm}", ["bash", str(REPO / "sft" / "sft.sh"), *extra], env, log,
               gpu=device == "cuda")


GRPO_REWARDS = {
    # rl/grpo.sh's default set: the release's accuracy, penalty-aware IoU and format rewards.
    "grpo_penalty": ["acc_reward", "iou_reward", "format_reward"],
    # The same with the IoU reward's penalty removed (scripts/mini/mini_plugin.py).
    "grpo_no_penalty": ["acc_reward", "iou_reward_no_penalty", "format_reward"],
}


def grpo_job(arm: str, rl_dir: Path, model: Path, out: Path, scale: Scale, seed: int, device: str,
             log: Path, time_limit_s: Optional[float] = None) -> Job:
    env = _env_base(device)
    env.update({
        "USE_VLLM": "false", "MODEL": str(model), "MODEL_TYPE": "qwen2_5_vl",
        "DATASETS": " ".join(str(p) for p in sorted(rl_dir.glob("*.jsonl"))),
        "OUTPUT_DIR": str(out), "MAX_STEPS": str(scale.grpo_steps),
        "NUM_GENERATIONS": str(scale.grpo_generations),
        "PER_DEVICE_BATCH_SIZE": str(scale.grpo_batch), "GRAD_ACCUM": "1",
        "LEARNING_RATE": str(scale.grpo_lr), "MAX_COMPLETION_LENGTH": str(scale.max_completion),
        "MAX_LENGTH": "2048", "TEMPERATURE": "1.0", "SAVE_STEPS": str(scale.grpo_steps),
        "LOGGING_STEPS": "1", "REPORT_TO": "none", "DEEPSPEED": "",
        "TORCH_DTYPE": "float32",
        "VIDEOTEMP_CLIP_DIR": str(out / "clips"),
        "VIDEOTEMP_MINI_TIME_LIMIT_S": str(time_limit_s or scale.grpo_time_limit_s),
    })
    env["EXTRA_ARGS"] = " ".join([
        "--check_model", "false", "--seed", str(seed), "--save_only_model", "true",
        "--external_plugins", str(REPO / "rl" / "plugin.py"), str(PLUGIN),
        *(["--bf16", "true", "--fp16", "false"] if device == "cuda" else []),
        "--reward_funcs", *GRPO_REWARDS[arm]])
    return Job(f"grpo:{arm}", ["bash", str(REPO / "rl" / "grpo.sh")], env, log, gpu=device == "cuda")


def latest_checkpoint(out: Path) -> Path:
    """The newest ``checkpoint-*`` folder ms-swift wrote under ``out``."""
    found = sorted(out.glob("**/checkpoint-*"), key=lambda p: p.stat().st_mtime)
    found = [p for p in found if p.is_dir() and (p / "config.json").is_file()]
    if not found:
        raise RuntimeError(f"no checkpoint under {out}")
    return found[-1]


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def eval_flags(scale: Scale, stage: str) -> list[str]:
    timed = ["--overview-times"] if scale.overview_times else []
    return [*timed, "--overview-frames", str(synthetic.OVERVIEW_FRAMES),
            "--overview-pixels", str(synthetic.OVERVIEW_PIXELS),
            "--clip-fps", "2.0", "--clip-max-frames", str(synthetic.CLIP_MAX_FRAMES),
            "--clip-pixels", str(synthetic.CLIP_PIXELS),
            "--max-new-tokens", str(scale.max_new_tokens), "--temperature", "0",
            "--max-turns", "1" if stage == "single_pass" else str(protocol.DEFAULT_MAX_TURNS)]


def agent_flags(model_dir: Path) -> list[str]:
    """``eval/run.py`` flags that run a shipped checkpoint as its evaluation did: the manifest's
    ``agent_flags`` (a checkpoint trained with the timed overview must be run with it), else —
    a manifest written before they were recorded — the miniature's plain-overview flags."""
    manifest = json.loads((Path(model_dir) / "MANIFEST.json").read_text())
    flags = manifest.get("agent_flags")
    if flags is None:
        return eval_flags(replace(SCALES["full"], overview_times=False), manifest.get("stage", "sft_unified"))
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise ValueError(f"{model_dir}/MANIFEST.json: agent_flags must be a list of strings")
    return flags


def shard_dirs(split_dir: Path, shards: int) -> list[Path]:
    """``shards`` data folders over ``split_dir``'s records (same uids, videos linked)."""
    if shards <= 1:
        return [split_dir]
    records = split_dir.joinpath("data.jsonl").read_text().splitlines()
    out = []
    for k in range(shards):
        d = split_dir.parent / f"{split_dir.name}.shard{k}of{shards}"
        d.mkdir(parents=True, exist_ok=True)
        link = d / "videos"
        if not link.exists():
            link.symlink_to((split_dir / "videos").resolve(), target_is_directory=True)
        (d / "data.jsonl").write_text("".join(line + "\n" for line in records[k::shards]))
        out.append(d)
    return out


def eval_jobs(stage: str, model: Path, work: Path, split: str, scale: Scale, device: str,
              python: str, log_dir: Path, shards: int = 1) -> list[Job]:
    env = _env_base(device)
    jobs = []
    for task in TASKS:
        for k, d in enumerate(shard_dirs(work / "data" / split, shards)):
            out = work / "eval" / stage / split / f"{task}.part{k}.jsonl"
            cmd = [python, str(REPO / "eval" / "run.py"), "--bench", task, "--data-dir", str(d),
                   "--model", str(model), "--device", device, "--output", str(out), "--no-score",
                   *eval_flags(scale, stage)]
            jobs.append(Job(f"eval:{stage}:{split}:{task}:{k}", cmd, env,
                            log_dir / "eval" / f"{stage}_{split}_{task}_{k}.log", stoppable=True,
                            gpu=device == "cuda"))
    return jobs


def _merge_parts(stage_dir: Path, task: str) -> Path:
    merged = stage_dir / f"{task}.jsonl"
    parts = sorted(stage_dir.glob(f"{task}.part*.jsonl"))
    merged.write_text("".join(p.read_text() for p in parts))
    return merged


def trajectory_metrics(stage_dir: Path, task: str, truth: dict[str, tuple[float, float]]) -> dict:
    """Tool-call rate, mean turns, well-formed rate and last-call IoU from the saved
    trajectories of one (stage, split, task)."""
    rows: list[dict[str, Any]] = []
    for part in sorted(stage_dir.glob(f"{task}.part*.trajectories")):
        for path in sorted(part.glob("*.json")):
            traj = json.loads(path.read_text())
            uid = path.stem
            turns = traj.get("turns") or []
            parsed = [protocol.parse_turn(t.get("text") or "") for t in turns]
            calls = [t for t in turns if t.get("clips")]
            well = bool(parsed) and all(p.well_formed for p in parsed) and parsed[-1].action == "answer"
            last_iou = None
            if calls and uid in truth:
                segs = [c["segment"] for c in calls[-1]["clips"]]
                hull = (min(s[0] for s in segs), max(s[1] for s in segs))
                last_iou = iou(hull, truth[uid])
            # The first turn's request, carried out or not: a model that cannot read time
            # writes the same few spans for every video, and the clip tool rejects most.
            first = parsed[0].tool_call if parsed else None
            first_span = (first.spans[0].start, first.spans[0].end) if first is not None and first.spans else None
            rows.append({"turns": len(turns), "called": bool(calls), "well_formed": well,
                         "last_call_iou": last_iou, "first_span": first_span,
                         "first_rejected": first is not None and not turns[0].get("clips")})
    n = len(rows)
    ious = [r["last_call_iou"] for r in rows if r["last_call_iou"] is not None]
    return {
        "n": n,
        "tool_call_rate": sum(r["called"] for r in rows) / n if n else None,
        "mean_turns": sum(r["turns"] for r in rows) / n if n else None,
        "well_formed_rate": sum(r["well_formed"] for r in rows) / n if n else None,
        "last_call_iou": sum(ious) / len(ious) if ious else None,
        "n_calls": len(ious),
        "first_turn_calls": sum(r["first_span"] is not None for r in rows),
        "first_calls_rejected": sum(r["first_rejected"] for r in rows),
        "distinct_first_spans": len({r["first_span"] for r in rows if r["first_span"] is not None}),
    }


def score_stage(stage: str, work: Path, split: str, python: str) -> dict:
    """The scorer's numbers (``eval/score.py --json``) and the trajectory metrics of one stage on
    one split, both tasks."""
    stage_dir = work / "eval" / stage / split
    split_dir = work / "data" / split
    truth = {}
    for line in iter_jsonl(split_dir / "data.jsonl"):
        truth[line.value["uid"]] = tuple(line.value["timestamp"])
    out: dict[str, Any] = {}
    for task in TASKS:
        merged = _merge_parts(stage_dir, task)
        # --skip-missing: a question left unanswered at the deadline is not scored as wrong;
        # the sample sizes in the table say how many were answered.
        run = subprocess.run([python, str(REPO / "eval" / "score.py"), task, "--data-dir", str(split_dir),
                              "--input_file", str(merged), "--json", "--skip-missing"],
                             capture_output=True, text=True,
                             cwd=REPO, env=_env_base("cpu"))
        if run.returncode != 0:
            raise RuntimeError(f"eval/score.py {task} on {merged} failed:\n{run.stderr[-2000:]}")
        out[task] = {"score": json.loads(run.stdout),
                     "trajectories": trajectory_metrics(stage_dir, task, truth)}
    return out


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


SCORER_PERCENT = ("acc", "mIoU", "R@0.3", "R@0.5", "R@0.7")
"""Metrics the scorer reports in percent (lmms-eval's convention); the miniature works in fractions."""


def _as_fractions(row: dict) -> dict:
    return {k: (v / 100 if k in SCORER_PERCENT and v is not None else v) for k, v in row.items()}


def _overall(score: dict, table: str) -> dict:
    """The overall row of a score table, metrics as fractions of 1."""
    return _as_fractions(score["tables"][table]["overall"])


def table_rows(scores: dict[str, dict], split: str = "test") -> list[dict]:
    """One row per stage: the columns of the table, with sample sizes."""
    rows = []
    for stage in STAGES:
        s = scores.get(stage, {}).get(split)
        if not s:
            continue
        mcq, g = s["videotemp"], s["videotemp-g"]
        m_all = _overall(mcq["score"], "duration")
        g_all = _overall(g["score"], "duration")
        tm, tg = mcq["trajectories"], g["trajectories"]
        n = (tm["n"] or 0) + (tg["n"] or 0)

        def both(key):
            vals = [(t[key], t["n"]) for t in (tm, tg) if t[key] is not None]  # noqa: B023 — called in this iteration
            return sum(v * k for v, k in vals) / sum(k for _, k in vals) if vals else None

        ious = [(t["last_call_iou"], t["n_calls"]) for t in (tm, tg) if t["last_call_iou"] is not None]
        rows.append({
            "stage": stage, "title": STAGE_TITLES[stage],
            "mcq_accuracy": m_all.get("acc"), "mcq_n": m_all.get("n", tm["n"]),
            "miou": g_all.get("mIoU"), "r_at_0_5": g_all.get("R@0.5"), "grounding_n": g_all.get("n", tg["n"]),
            "tool_call_rate": both("tool_call_rate"), "mean_turns": both("mean_turns"),
            "well_formed_rate": both("well_formed_rate"),
            "last_call_iou": (sum(v * k for v, k in ious) / sum(k for _, k in ious)) if ious else None,
            "calls_n": sum(k for _, k in ious), "questions_n": n,
        })
    return rows


def _pct(v: Optional[float]) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _num(v: Optional[float], nd: int = 2) -> str:
    return "–" if v is None else f"{v:.{nd}f}"


def format_table(rows: Sequence[dict]) -> str:
    head = ("| stage | MCQ acc % | grounding mIoU % | R@0.5 % | tool-call rate % | mean turns | "
            "well-formed % | last-call IoU % (n calls) |\n|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        lines.append(f"| {r['title']} | {_pct(r['mcq_accuracy'])} (n={r['mcq_n']}) | "
                     f"{_pct(r['miou'])} (n={r['grounding_n']}) | {_pct(r['r_at_0_5'])} | "
                     f"{_pct(r['tool_call_rate'])} | {_num(r['mean_turns'])} | "
                     f"{_pct(r['well_formed_rate'])} | {_pct(r['last_call_iou'])} ({r['calls_n']}) |")
    return head + "\n".join(lines) + "\n"


def _bin_values(score: dict, metric: str) -> dict[str, float | None]:
    from videotemp_o3.benchmarks.videotemp import BINS

    rows = score["tables"]["duration"]
    return {b: _as_fractions(rows[b]).get(metric) for b in BINS if b in rows}


def plot(scores: dict[str, dict], path: Path, split: str = "test") -> Path:
    """mIoU (grounding) and accuracy (MCQ) by video-length bin, one line per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from videotemp_o3.benchmarks.videotemp import BINS

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for stage in STAGES:
        s = scores.get(stage, {}).get(split)
        if not s:
            continue
        acc = _bin_values(s["videotemp"]["score"], "acc")
        miou = _bin_values(s["videotemp-g"]["score"], "mIoU")
        axes[0].plot(BINS, [100 * (acc.get(b) or 0) for b in BINS], marker="o", label=STAGE_TITLES[stage])
        axes[1].plot(BINS, [100 * (miou.get(b) or 0) for b in BINS], marker="o", label=STAGE_TITLES[stage])
    axes[0].set_title("MCQ accuracy (%) by video length")
    axes[1].set_title("grounding mIoU (%) by video length")
    for ax in axes:
        ax.set_xlabel("video length")
        ax.grid(alpha=0.3)
    axes[0].axhline(25, color="grey", ls=":", lw=1)
    axes[1].legend(fontsize=7, loc="upper right")
    fig.suptitle("Miniature VideoTemp-o3 on the synthetic test split")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def choose_best(scores: dict[str, dict]) -> tuple[str, dict[str, float]]:
    """The tool-using stage with the best validation score: mean of MCQ accuracy and mIoU."""
    by = {}
    for stage in TOOL_STAGES:
        s = scores.get(stage, {}).get("val")
        if not s:
            continue
        acc = _overall(s["videotemp"]["score"], "duration").get("acc") or 0.0
        miou = _overall(s["videotemp-g"]["score"], "duration").get("mIoU") or 0.0
        by[stage] = (acc + miou) / 2
    if not by:
        raise RuntimeError("no tool-using stage was evaluated on the validation split")
    return max(by, key=lambda k: (by[k], -TOOL_STAGES.index(k))), by


CHECKPOINT_FILES = ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                    "chat_template.jinja", "preprocessor_config.json",
                    "video_preprocessor_config.json", "processor_config.json")


def copy_checkpoint(src: Path, dst: Path) -> Path:
    """The files a checkpoint needs to load and serve (no optimizer state, no trainer files),
    with float32 weights stored as bfloat16 (the dtype the GPU engine runs them in; the shipped
    weights must stay under 25 MB)."""
    import torch
    from safetensors.torch import load_file, save_file

    dst.mkdir(parents=True, exist_ok=True)
    for name in CHECKPOINT_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    weights = load_file(str(src / "model.safetensors"))
    if any(t.dtype == torch.float32 for t in weights.values()):
        weights = {k: t.to(torch.bfloat16) if t.dtype == torch.float32 else t for k, t in weights.items()}
        save_file(weights, str(dst / "model.safetensors"), metadata={"format": "pt"})
        config = json.loads((dst / "config.json").read_text())
        for section in (config, config.get("text_config") or {}, config.get("vision_config") or {}):
            for key in ("torch_dtype", "dtype"):
                if key in section:
                    section[key] = "bfloat16"
        (dst / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return dst


def pack(results: Path, work: Path, best_dir: Optional[Path]) -> list[Path]:
    """``logs.tar.gz`` (logs and trajectories) and ``best.tar.gz`` (the chosen checkpoint),
    each cut into parts below 15 MB when larger (``cat best.tar.gz.part* > best.tar.gz``)."""
    out = []
    logs = results / "logs.tar.gz"
    with tarfile.open(logs, "w:gz") as tar:
        tar.add(work / "logs", arcname="logs")
        for d in sorted((work / "eval").glob("*/*/*.trajectories")):
            tar.add(d, arcname=str(d.relative_to(work)))
        for f in sorted(work.glob("**/logging.jsonl")):
            tar.add(f, arcname=str(f.relative_to(work)))
    out += _split_if_large(logs)
    if best_dir is None:
        return out
    best = results / "best.tar.gz"
    with tarfile.open(best, "w:gz") as tar:
        tar.add(best_dir, arcname=best_dir.name)
    out += _split_if_large(best)
    return out


def _split_if_large(path: Path, limit: int = 15 * 2**20) -> list[Path]:
    if path.stat().st_size <= limit:
        return [path]
    parts = []
    with open(path, "rb") as f:
        k = 0
        while chunk := f.read(limit):
            part = path.with_name(f"{path.name}.part{k}")
            part.write_bytes(chunk)
            parts.append(part)
            k += 1
    path.unlink()
    return parts


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def preflight(device: str) -> None:
    """Fails at once, naming what is missing, rather than minutes into the run."""
    missing = []
    for module, why in (("swift", "ms-swift 3.10.3 (training)"), ("av", "PyAV (videos, clip files)"),
                        ("decord", "decord (ms-swift's video reader)"),
                        ("qwen_vl_utils", "qwen-vl-utils 0.0.11"), ("matplotlib", "matplotlib (the plot)")):
        try:
            __import__(module)
        except ImportError:
            missing.append(why)
    if not missing:
        import av

        if "libx264" not in av.codecs_available:
            missing.append("libx264 in PyAV (its wheel bundles it)")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            missing.append("a CUDA device (or run with DEVICE=cpu)")
    if missing:
        raise RuntimeError("missing: " + "; ".join(missing) + ". On a GPU machine: source "
                           "scripts/device/install.sh train (scripts/device/PLAN.md stages the pool)")


def _device_name(device: str) -> str:
    if device == "cuda":
        try:
            import torch

            return torch.cuda.get_device_name(0)
        except Exception:  # noqa: BLE001 — reported as unknown
            return "cuda (unknown)"
    return f"cpu ({os.cpu_count()} cores)"


def visible_gpus(device: str) -> list[str]:
    """The GPUs the run may use: ``CUDA_VISIBLE_DEVICES``'s entries when set, else every device
    torch sees; none on the CPU."""
    if device != "cuda":
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip()]
    import torch

    return [str(k) for k in range(torch.cuda.device_count())]


def _git_commit() -> Optional[str]:
    if os.environ.get("VIDEOTEMP_COMMIT"):  # a copy without .git (a GPU machine's)
        return os.environ["VIDEOTEMP_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001 — a copy without git history
        return None


def _has_checkpoint(out: Path) -> bool:
    try:
        latest_checkpoint(out)
        return True
    except RuntimeError:
        return False


def run(work: Path, results: Path, scale: Scale, *, seed: int = 0, device: str = "cuda",
        workers: Optional[int] = None, python: str = sys.executable, command: str = "",
        resume: bool = False, budget_s: Optional[float] = None) -> dict:
    """The whole reproduction (:func:`_run`). If it fails, what is known — the error, the
    timings so far and every log — is still written to ``results`` (``results.json``,
    ``logs.tar.gz``) before the error is raised: on a GPU machine that folder is all that comes
    back."""
    preflight(device)
    info: dict[str, Any] = {}
    try:
        return _run(work, results, scale, info, seed=seed, device=device, workers=workers,
                    python=python, command=command, resume=resume, budget_s=budget_s)
    except BaseException as e:
        info["error"] = f"{type(e).__name__}: {e}"
        runner = info.pop("_runner", None)
        if runner is not None:
            info["jobs"] = [{"name": j.name, "seconds": round(j.seconds, 1),
                             "returncode": j.returncode} for j in runner.done]
        results.mkdir(parents=True, exist_ok=True)
        (results / "results.json").write_text(json.dumps(info, indent=1, default=str) + "\n")
        if (work / "logs").is_dir():
            pack(results, work, None)
        raise


def _run(work: Path, results: Path, scale: Scale, info: dict[str, Any], *, seed: int, device: str,
         workers: Optional[int], python: str, command: str, resume: bool,
         budget_s: Optional[float]) -> dict:
    """The whole reproduction; returns what ``results.json`` holds.

    ``resume``: keep what an earlier run in ``work`` finished (the data, the initial model,
    every trained checkpoint; ``eval/run.py`` skips the questions it has answered) and do the
    rest. Timings then cover only what ran. ``budget_s``: evaluations still running this many
    seconds after the start are stopped, so that the report is written inside the budget."""
    from videotemp_o3.testing.tiny_model import build_tiny_model

    t_start = time.time()
    workers = workers or os.cpu_count() or 2
    work.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    gpus = visible_gpus(device)
    runner = Runner(work / "logs", deadline=t_start + budget_s if budget_s else None, gpus=gpus)
    stages: dict[str, float] = {}
    info.update({"scale": asdict(scale), "seed": seed, "device": device,
                 "command": command, "git_commit": _git_commit(), "workers": workers,
                 "device_name": _device_name(device), "gpus": len(gpus), "budget_s": budget_s})
    info["stage_seconds"] = stages  # kept current, so that a failed run still reports them
    info["_runner"] = runner

    t = time.time()
    sizes_file = work / "data_sizes.json"
    if resume and sizes_file.is_file():
        info["data"] = json.loads(sizes_file.read_text())
    else:
        info["data"] = stage_data(work, scale, seed, runner, device, workers, python)
        sizes_file.write_text(json.dumps(info["data"]) + "\n")
    stages["data (splits, SFT and RL data)"] = time.time() - t

    t = time.time()
    init = work / "model" / "init"
    if not (resume and (init / "model.safetensors").is_file()):
        init = build_tiny_model(init, seed=seed, size=scale.model)
    stages["model (random init)"] = time.time() - t

    ckpt: dict[str, Path] = {"random_init": init}
    sft_arms = {"sft_all_rounds": work / "sft" / "sft_all_rounds.jsonl",
                "sft_unified": work / "sft" / "sft_unified.jsonl",
                "single_pass": work / "sft" / "single_pass.jsonl"}
    t = time.time()
    limits = info.setdefault("time_limits_s", {})
    limits["sft"] = training_limit(scale.sft_time_limit_s, scale.sft_end_s, t - t_start)
    jobs = [sft_job(arm, data, init, work / "train" / arm, scale, seed, device,
                    runner.log_dir / "train" / f"{arm}.log", limits["sft"])
            for arm, data in sft_arms.items()
            if not (resume and _has_checkpoint(work / "train" / arm))]
    if not (resume and (work / "oracle.json").is_file()):
        jobs.append(oracle_job(work, python, runner.log_dir))
    # From here on a failed arm costs only the stages that need it: the others are still trained,
    # evaluated and reported (the run then ends non-zero, naming it).
    runner.run(jobs, label="SFT (3 arms) + the oracle", tolerate=True)
    stages["SFT: 3 arms side by side (+ the oracle)"] = time.time() - t
    if (work / "oracle.json").is_file():
        info["oracle"] = o = json.loads((work / "oracle.json").read_text())
        _say(f"oracle on val: MCQ {o['overview']['mcq_accuracy']:.2f} from the overview vs "
             f"{o['clip']['mcq_accuracy']:.2f} with the right clip; mIoU {o['overview']['grounding_miou']:.2f} "
             f"vs {o['clip']['grounding_miou']:.2f}")
    for arm in sft_arms:
        if _has_checkpoint(work / "train" / arm):
            ckpt[arm] = latest_checkpoint(work / "train" / arm)

    t = time.time()
    limits["grpo"] = training_limit(scale.grpo_time_limit_s, scale.grpo_end_s, t - t_start)
    _say(f"time limits: SFT {limits['sft']:.0f} s, GRPO {limits['grpo']:.0f} s of steps")
    jobs = [grpo_job(arm, work / "rl", ckpt["sft_unified"], work / "train" / arm, scale, seed, device,
                     runner.log_dir / "train" / f"{arm}.log", limits["grpo"]) for arm in GRPO_REWARDS
            if "sft_unified" in ckpt and not (resume and _has_checkpoint(work / "train" / arm))]
    # The random init writes until max_new_tokens on every turn: the slowest to evaluate.
    jobs += eval_jobs("random_init", init, work, "test", scale, device, python, runner.log_dir,
                      scale.eval_shards + 1)
    for stage in ("single_pass", "sft_all_rounds", "sft_unified"):
        if stage not in ckpt:
            continue
        jobs += eval_jobs(stage, ckpt[stage], work, "test", scale, device, python, runner.log_dir,
                          scale.eval_shards)
        if stage in TOOL_STAGES:
            jobs += eval_jobs(stage, ckpt[stage], work, "val", scale, device, python, runner.log_dir)
    runner.run(jobs, label="GRPO (2 arms) + evaluation of the SFT stages and the random init",
               tolerate=True)
    stages["GRPO: 2 arms side by side (+ SFT-stage evals)"] = time.time() - t
    for arm in GRPO_REWARDS:
        if _has_checkpoint(work / "train" / arm):
            ckpt[arm] = latest_checkpoint(work / "train" / arm)

    t = time.time()
    jobs = []
    for stage in GRPO_REWARDS:
        if stage not in ckpt:
            continue
        jobs += eval_jobs(stage, ckpt[stage], work, "test", scale, device, python, runner.log_dir,
                          scale.eval_shards)
        jobs += eval_jobs(stage, ckpt[stage], work, "val", scale, device, python, runner.log_dir)
    runner.run(jobs, label="evaluation of the GRPO stages", tolerate=True)
    stages["eval of the GRPO stages"] = time.time() - t

    t = time.time()
    scores: dict[str, dict] = {stage: {} for stage in STAGES}
    score_errors = {}
    todo = [(stage, split) for stage in STAGES for split in ("test", "val")
            if (work / "eval" / stage / split).is_dir()]
    # Each scoring is a few processes of eval/score.py: side by side, not one after another.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, min(len(todo), workers))) as pool:
        futures = {key: pool.submit(score_stage, key[0], work, key[1], python) for key in todo}
    for (stage, split), fut in futures.items():
        try:
            scores[stage][split] = fut.result()
        except RuntimeError as e:  # e.g. nothing answered before the deadline
            score_errors[f"{stage}/{split}"] = str(e)[-500:]
    info["score_errors"] = score_errors
    try:
        best, val_scores = choose_best(scores)
    except RuntimeError as e:
        best, val_scores = None, {}
        info["best_error"] = str(e)
    best_dir = copy_checkpoint(ckpt[best], work / "best" / "videotemp-mini") if best else None
    rows = table_rows(scores, "test")
    info.update({
        "table": rows, "val_table": table_rows(scores, "val"), "best_stage": best,
        "best_val_scores": val_scores, "checkpoints": {k: str(v) for k, v in ckpt.items()},
        "scores": scores,
        "jobs": [{"name": j.name, "seconds": round(j.seconds, 1), "returncode": j.returncode}
                 for j in runner.done],
        "stopped_at_deadline": runner.stopped,
        "failed_jobs": [{"name": j.name, "returncode": j.returncode, "log": str(j.log.relative_to(work)),
                         "log_tail": j.log.read_text(errors="replace")[-1500:]} for j in runner.failed],
    })
    if best is not None and best_dir is not None:
        manifest = {"made_by": command or "bash scripts/reproduce_mini.sh", "seed": seed,
                    "scale": scale.name, "stage": best, "title": STAGE_TITLES[best],
                    "chosen_by": "validation split: mean of MCQ accuracy and grounding mIoU",
                    # How it was evaluated, so the main job runs it the same way (agent_flags()).
                    "agent_flags": eval_flags(scale, best),
                    "val_scores": val_scores,
                    "test_row": next((r for r in rows if r["stage"] == best), None),
                    "git_commit": info["git_commit"], "device": device,
                    "device_name": info["device_name"],
                    "budgets": {"overview": [synthetic.OVERVIEW_FRAMES, synthetic.OVERVIEW_PIXELS],
                                "clip": [synthetic.CLIP_MAX_FRAMES, synthetic.CLIP_PIXELS],
                                "swift_env": synthetic.SWIFT_ENV}}
        (best_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (results / "table.md").write_text(format_table(rows))
    plot(scores, results / "plot.png")
    stages["report"] = time.time() - t
    info["stage_seconds"] = {k: round(v, 1) for k, v in stages.items()}
    info["total_seconds"] = round(time.time() - t_start, 1)
    info.pop("_runner", None)
    (results / "results.json").write_text(json.dumps(info, indent=1, default=str) + "\n")
    info["packed"] = [str(p) for p in pack(results, work, best_dir)]
    _say("wall time per stage: " + "; ".join(f"{k} {v:.0f} s" for k, v in info["stage_seconds"].items()))
    _say(f"total {info['total_seconds']:.0f} s; best by validation: {best}")
    print(format_table(rows), flush=True)
    if runner.failed:
        _say("FAILED: the report was written without the stages of "
             + ", ".join(f"{j.name} (exit {j.returncode}, log {j.log})" for j in runner.failed))
    return info


def describe_trajectory(traj: dict, record: dict) -> str:
    """One question's trajectory as text: the overview, each turn (reasoning, call, clip,
    answer) and, at the end, the requested spans and the answer against the truth."""
    truth = tuple(record["timestamp"])
    q = traj.get("question") or {}
    ov = traj.get("overview") or {}
    lines = [f"video {Path(traj['video']).name} ({ov.get('duration', record.get('duration')):.0f} s); "
             f"{q.get('task')} question: {q.get('text', '').splitlines()[0]}"]
    if q.get("options"):
        lines.append("  options: " + "  ".join(f"{letter}. {o}" for letter, o in zip("ABCDEF", q["options"])))
    lines.append(f"overview: {ov.get('frames')} frames of {ov.get('size', ['?', '?'])[0]}x"
                 f"{ov.get('size', ['?', '?'])[1]}")
    for turn in traj.get("turns") or []:
        lines.append(f"turn {turn['index']} ({turn['action']}): {turn['text'].strip()}")
        for clip in turn.get("clips") or []:
            s, e = clip["segment"]
            lines.append(f"  -> clip {protocol.format_seconds(s)}-{protocol.format_seconds(e)} s: "
                         f"{clip['frames']} frames of {clip['size'][0]}x{clip['size'][1]}; IoU with "
                         f"the truth {iou((s, e), truth):.2f}")
        if turn.get("rejected"):
            lines.append(f"  -> call not carried out: {turn['rejected']['problem']}")
    pred = traj.get("prediction")
    if q.get("task") == "grounding":
        got = f"{pred}" if pred is None else f"[{protocol.format_seconds(pred[0])}, {protocol.format_seconds(pred[1])}]"
        score = iou(pred, truth) if pred else 0.0
        lines.append(f"answer {got} vs truth [{protocol.format_seconds(truth[0])}, "
                     f"{protocol.format_seconds(truth[1])}]: IoU {score:.2f}")
    else:
        lines.append(f"answer {pred} vs truth {record.get('answer')} "
                     f"({'right' if pred == record.get('answer') else 'wrong'}); the card was on screen "
                     f"[{protocol.format_seconds(truth[0])}, {protocol.format_seconds(truth[1])}] s")
    return "\n".join(lines)


def show(results: Path, data_dir: Path, uid: Optional[str] = None) -> str:
    """The trajectory of ``uid`` (default: the first question, in the data's order, whose agent
    called the tool; else the first) from an ``eval/run.py`` results file."""
    records = {r["uid"]: r for r in _read_jsonl(data_dir / "data.jsonl")}
    traj_dir = results.with_suffix("").with_name(results.stem + ".trajectories")
    trajs = {}
    for uid_ in records:
        path = traj_dir / f"{uid_}.json"
        if path.is_file():
            trajs[uid_] = json.loads(path.read_text())
    if not trajs:
        raise RuntimeError(f"no trajectories in {traj_dir}")
    if uid is None:
        called = [u for u in records if u in trajs and any(t.get("clips") for t in trajs[u]["turns"])]
        uid = called[0] if called else next(u for u in records if u in trajs)
    return describe_trajectory(trajs[uid], records[uid])


def _parameters(weights: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def ship(results: Path, dest: Path = REPO / "models" / "videotemp-mini") -> Path:
    """Unpacks the chosen checkpoint of a run's results (``best.tar.gz`` or its parts) into
    ``dest`` and writes its README from the manifest and the run's table."""
    parts = sorted(results.glob("best.tar.gz.part*"), key=lambda p: int(p.name.rsplit("part", 1)[1]))
    whole = results / "best.tar.gz"
    if not whole.is_file():
        if not parts:
            raise RuntimeError(f"no best.tar.gz (or parts) in {results}")
        whole = dest.parent / "best.tar.gz"
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(whole, "wb") as out:
            for part in parts:
                out.write(part.read_bytes())
    if dest.exists():
        shutil.rmtree(dest)
    with tarfile.open(whole) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and "/" in m.name
                   and ".." not in Path(m.name).parts and not m.name.startswith("/")]
        dest.mkdir(parents=True)
        for m in members:
            m.name = Path(m.name).name       # flat: the checkpoint's files only
            tar.extract(m, dest)
    if whole.parent == dest.parent:
        whole.unlink()
    manifest = json.loads((dest / "MANIFEST.json").read_text())
    info = json.loads((results / "results.json").read_text()) if (results / "results.json").is_file() else {}
    lines = [
        "# videotemp-mini: the miniature's trained agent",
        "",
        f"Stage \"{manifest.get('title', manifest.get('stage'))}\" of a small Qwen2.5-VL-architecture "
        f"model ({_parameters(dest / 'model.safetensors') / 1e6:.1f} M parameters, random init) trained from scratch on the synthetic task family "
        "(python/videotemp_o3/synthetic.py) by the project's own SFT and GRPO scripts. It is the "
        "default model of `bash scripts/demo.sh`; it knows nothing but this task.",
        "",
        f"- made by: `{manifest.get('made_by')}` (seed {manifest.get('seed')}, scale "
        f"{manifest.get('scale')}, commit {manifest.get('git_commit')}, device {info.get('device_name', manifest.get('device'))})",
        f"- chosen by: {manifest.get('chosen_by')}; validation scores {manifest.get('val_scores')}",
        f"- budgets it was trained and is evaluated with: overview {synthetic.OVERVIEW_FRAMES} frames of "
        f"{synthetic.OVERVIEW_PIXELS} px, clips at 2 fps of at most {synthetic.CLIP_MAX_FRAMES} frames of "
        f"{synthetic.CLIP_PIXELS} px",
        "",
        "Test split of the run (the full table: README, \"A miniature reproduction\"):",
        "",
    ]
    if info.get("table"):
        lines.append(format_table(info["table"]))
    (dest / "README.md").write_text("\n".join(lines) + "\n")
    return dest


# ---------------------------------------------------------------------------------------------
# The README's results section
# ---------------------------------------------------------------------------------------------

README_START = "<!-- mini-results:start (python -m videotemp_o3.mini readme RESULTS writes this section) -->"
README_END = "<!-- mini-results:end -->"
PUBLISHED = REPO / "docs" / "mini"
"""Where the shipped run's table.md, results.json and plot.png are kept (the README links them)."""

FINDINGS = (
    # (what the paper found, its numbers, the miniature's better stage, its worse stage, metric)
    ("unified masking beats training every round", "mIoU 29.5 with masking vs 18.8 without",
     "sft_unified", "sft_all_rounds", "miou"),
    ("the penalty-aware IoU reward beats the IoU reward without penalty",
     "mIoU 29.5 with the penalty vs 23.8 without", "grpo_penalty", "grpo_no_penalty", "miou"),
    ("tool use beats a single pass over the overview on long videos",
     "the agent above the single-pass baseline", "grpo_penalty", "single_pass", "mcq_accuracy"),
)


def _standard_error(row: dict, metric: str) -> Optional[float]:
    """A conservative standard error of ``metric`` in ``row``: binomial for accuracy, the bound
    0.5/√n of any [0, 1] mean for mIoU."""
    n = row["mcq_n"] if metric == "mcq_accuracy" else row["grounding_n"]
    v = row.get(metric)
    if not n or v is None:
        return None
    return math.sqrt(v * (1 - v) / n) if metric == "mcq_accuracy" else 0.5 / math.sqrt(n)


def findings(rows: Sequence[dict]) -> list[dict]:
    """Each finding of the paper against the miniature's test rows: the difference (better −
    worse stage, in points) and a verdict — ``holds`` when it exceeds twice the combined
    standard error in the paper's direction, ``reversed`` when it does so the other way, ``not
    distinguishable`` otherwise, ``not measured`` when a stage is missing."""
    by = {r["stage"]: r for r in rows}
    out = []
    for claim, paper, better, worse, metric in FINDINGS:
        a, b = by.get(better), by.get(worse)
        item: dict[str, Any] = {"claim": claim, "paper": paper, "better": better, "worse": worse, "metric": metric}
        if not a or not b or a.get(metric) is None or b.get(metric) is None:
            out.append(dict(item, verdict="not measured"))
            continue
        diff = a[metric] - b[metric]
        ses = [_standard_error(a, metric), _standard_error(b, metric)]
        se = math.sqrt(sum(x * x for x in ses if x is not None))
        verdict = ("holds" if diff > 2 * se else "reversed" if diff < -2 * se
                   else "not distinguishable")
        out.append(dict(item, diff_points=round(100 * diff, 1), two_se_points=round(200 * se, 1),
                        verdict=verdict))
    return out


def readme_section(info: dict, plot_link: str) -> str:
    """The README's results section from a run's ``results.json``: the GPU, the command, the
    table, the plot, the wall time per stage, the oracle and the findings."""
    rows = info.get("table") or []
    gpus = info.get("gpus") or 0
    device = info.get("device_name") or info.get("device")
    if gpus > 1:
        device = f"{device} × {gpus} (independent processes dealt over the GPUs)"
    lines = [README_START, "",
             f"Results of `{info.get('command')}` on {device}, seed {info.get('seed')}, commit "
             f"`{(info.get('git_commit') or 'unknown')[:12]}`: {info.get('total_seconds', 0):.0f} s from nothing"
             + (f" (budget {info['budget_s']:.0f} s)" if info.get("budget_s") else "") + f". Test split: {rows[0]['mcq_n'] if rows else 0} MCQ and "
             f"{rows[0]['grounding_n'] if rows else 0} grounding questions per stage (fewer where an "
             "evaluation was stopped at the deadline: the n of each cell).", "",
             format_table(rows).rstrip("\n"), "",
             f"![MCQ accuracy and grounding mIoU by video length, per stage]({plot_link})", ""]
    stages = info.get("stage_seconds") or {}
    if stages:
        lines.append("Wall time per stage: " + "; ".join(f"{k} {v:.0f} s" for k, v in stages.items()) + ".")
    limits = info.get("time_limits_s") or {}
    if limits:
        lines.append("Time limits of the training runs (seconds of steps): "
                     + ", ".join(f"{k} {v:.0f}" for k, v in limits.items()) + ".")
    failed = info.get("failed_jobs") or []
    if failed:
        lines.append(f"Failed processes (their stages are missing above): "
                     f"{', '.join(j['name'] for j in failed)}.")
    stopped = info.get("stopped_at_deadline") or []
    if stopped:
        lines.append(f"Evaluations stopped at the deadline (scored on what they answered): {', '.join(stopped)}.")
    o = info.get("oracle")
    if o:
        lines.append(f"Pixel oracle on the validation split ({o.get('questions')} videos): MCQ "
                     f"{_pct(o['overview']['mcq_accuracy'])} % from the overview vs "
                     f"{_pct(o['clip']['mcq_accuracy'])} % with the right clip (chance 25 %); mIoU "
                     f"{_pct(o['overview']['grounding_miou'])} vs {_pct(o['clip']['grounding_miou'])} %.")
    lines += ["", "Findings of the paper, on this miniature (difference in points; \"holds\" = larger "
              "than twice the combined standard error, conservative for mIoU):", ""]
    for f in findings(rows):
        if f["verdict"] == "not measured":
            lines.append(f"- {f['claim']} (paper: {f['paper']}): not measured here.")
        else:
            what = "MCQ accuracy" if f["metric"] == "mcq_accuracy" else "mIoU"
            lines.append(f"- {f['claim']} (paper: {f['paper']}): {f['verdict']} — {what} "
                         f"{STAGE_TITLES[f['better']]} minus {STAGE_TITLES[f['worse']]} = "
                         f"{f['diff_points']:+.1f} (2 SE {f['two_se_points']:.1f}).")
    if info.get("best_stage"):
        lines += ["", f"Shipped as `models/videotemp-mini`: {STAGE_TITLES[info['best_stage']]} "
                      "(the best tool-using stage by validation score, mean of MCQ accuracy and mIoU)."]
    lines += ["", README_END]
    return "\n".join(lines)


def write_readme(readme: Path, section: str) -> None:
    """Replaces the section between :data:`README_START` and :data:`README_END` in ``readme``."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise RuntimeError(f"{readme}: no results section (the lines {README_START!r} … "
                           f"{README_END!r}) to replace")
    readme.write_text(text[:start] + section + text[end + len(README_END):], encoding="utf-8")


def publish(results: Path, readme: Path = REPO / "README.md", published: Path = PUBLISHED) -> Path:
    """Copies the run's table.md, results.json and plot.png into ``published`` and writes the
    README's results section from them. Returns ``published``."""
    info = json.loads((results / "results.json").read_text())
    if info.get("error"):
        raise RuntimeError(f"{results / 'results.json'}: the run failed ({info['error'][:200]}); "
                           "nothing to publish")
    published.mkdir(parents=True, exist_ok=True)
    for name in ("table.md", "results.json", "plot.png"):
        if not (results / name).is_file():
            raise RuntimeError(f"{results}: no {name} (the run did not finish its report)")
        if (results / name).resolve() != (published / name).resolve():
            shutil.copyfile(results / name, published / name)
    link = os.path.relpath(published / "plot.png", readme.parent)
    write_readme(readme, readme_section(info, link))
    return published


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m videotemp_o3.mini",
                                description="The miniature reproduction (see the module docstring).")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="data → SFT → GRPO → evaluation → table, plot, best checkpoint")
    r.add_argument("--work", default=os.environ.get("WORK", "runs/mini/work"))
    r.add_argument("--results", default=os.environ.get("RESULTS", "runs/mini/results"))
    r.add_argument("--scale", choices=sorted(SCALES), default=os.environ.get("MINI_SCALE", "full"))
    r.add_argument("--device", choices=("cuda", "cpu"), default=os.environ.get("DEVICE", "cuda"))
    r.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "0")))
    r.add_argument("--workers", type=int, default=None, help="CPU processes for data (default: all cores)")
    r.add_argument("--budget-s", type=float, default=float(os.environ["MINI_BUDGET_S"]) if os.environ.get("MINI_BUDGET_S") else None,
                   help="stop evaluations still running this many seconds after the start and "
                        "report what was answered (default: the scale's)")
    r.add_argument("--overview-times", action="store_true",
                   default=os.environ.get("MINI_OVERVIEW_TIMES", "0") not in ("", "0"),
                   help="a timed overview in the SFT data, the GRPO rows and the evaluation: the "
                        "overview's frame times in text (default: $MINI_OVERVIEW_TIMES, else off)")
    r.add_argument("--resume", action="store_true",
                   help="keep what an earlier run in --work finished and do the rest")
    sh = sub.add_parser("show", help="print one question's trajectory from eval/run.py's results")
    sh.add_argument("results", help="the results JSONL of eval/run.py")
    sh.add_argument("--data-dir", required=True, help="the benchmark folder (data.jsonl)")
    sh.add_argument("--uid", help="the question (default: the first that called the tool)")
    sp = sub.add_parser("ship", help="unpack a run's best checkpoint into models/videotemp-mini")
    sp.add_argument("results", help="the --results folder of a run (best.tar.gz or its parts)")
    sp.add_argument("--dest", default=str(REPO / "models" / "videotemp-mini"))
    sp.add_argument("--readme", default=str(REPO / "README.md"),
                    help="the README whose results section is rewritten (default: the repository's)")
    sp.add_argument("--published", default=str(PUBLISHED),
                    help="where table.md, results.json and plot.png are copied (default: docs/mini)")
    sp.add_argument("--no-readme", action="store_true", help="only unpack the checkpoint")
    fl = sub.add_parser("flags", help="the eval/run.py flags a shipped checkpoint runs with, one per line")
    fl.add_argument("model", help="a folder of `mini ship` (MANIFEST.json)")
    rd = sub.add_parser("readme", help="rewrite the README's results section from a run's results.json")
    rd.add_argument("results", help="the --results folder of a run (results.json, table.md, plot.png)")
    rd.add_argument("--readme", default=str(REPO / "README.md"))
    rd.add_argument("--published", default=str(PUBLISHED))
    a = p.parse_args(argv)
    if a.cmd in ("ship", "readme"):
        try:
            if a.cmd == "ship":
                print(f"shipped: {ship(Path(a.results), Path(a.dest))}")
            if a.cmd == "readme" or not a.no_readme:
                out = publish(Path(a.results), Path(a.readme), Path(a.published))
                print(f"results section of {a.readme} written; table, results and plot in {out}")
        except (RuntimeError, OSError, tarfile.TarError, json.JSONDecodeError, KeyError) as e:
            print(f"[mini] {a.cmd}: {e}", file=sys.stderr)
            return 1
        return 0
    if a.cmd == "flags":
        try:
            print("\n".join(agent_flags(Path(a.model))))
        except (OSError, ValueError, KeyError) as e:
            print(f"[mini] flags: {e}", file=sys.stderr)
            return 1
        return 0
    if a.cmd == "show":
        try:
            print(show(Path(a.results), Path(a.data_dir), a.uid))
        except (RuntimeError, OSError, KeyError) as e:
            print(f"[mini] show: {e}", file=sys.stderr)
            return 1
        return 0
    if a.cmd == "run":
        import signal

        def stop(signum, frame):
            # Once: a time limit (timeout(1)) signals the driver and then its whole group.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            raise KeyboardInterrupt(f"stopped by signal {signum}")

        # Stopped from outside, the run still writes results.json and logs.tar.gz (run()). SIGINT
        # too: a background job's shell may have left it ignored.
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scale = SCALES[a.scale]
        timed = ""
        if a.overview_times:
            scale = replace(scale, overview_times=True)
            timed = "MINI_OVERVIEW_TIMES=1 "
        command = (f"DEVICE={a.device} MINI_SCALE={a.scale} SEED={a.seed} {timed}"
                   f"bash scripts/reproduce_mini.sh")
        try:
            info = run(Path(a.work).resolve(), Path(a.results).resolve(), scale, seed=a.seed,
                       device=a.device, workers=a.workers, command=command, resume=a.resume,
                       budget_s=a.budget_s if a.budget_s is not None else scale.budget_s)
        except (RuntimeError, OSError) as e:
            print(f"[mini] error: {e} (what was done is in {a.results}: results.json, logs.tar.gz)",
                  file=sys.stderr)
            return 1
        if info.get("failed_jobs"):
            print(f"[mini] error: {len(info['failed_jobs'])} process(es) failed: "
                  f"{', '.join(j['name'] for j in info['failed_jobs'])} (results.json: failed_jobs; "
                  "the table holds the other stages)", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
