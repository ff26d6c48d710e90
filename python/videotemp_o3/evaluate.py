"""``eval/run.py``: run the agent over a benchmark, resumably, and score it.

- Items come from the benchmark registry (:mod:`videotemp_o3.benchmarks`), read from the files
  exactly as published; the benchmark's own switches (``--grounding-query``, ``--mcq-only``)
  are taken and passed on to the scorer.
- Every flag is checked before anything is loaded (one line and exit status 2 for a bad one);
  every video is checked once before the run; missing or unreadable ones are listed together,
  and the run stops unless ``--skip-missing-videos`` asks to go on with the rest; an
  OpenAI-compatible server is asked ``/v1/models`` before the first question (it must answer
  and serve the model; without ``--model``, the model is what it serves).
- The results file (:class:`ResultsFile`) is held exclusively (``flock``) for the whole run: a
  second run on the same file stops at once instead of running every question again. Only a
  results file of this benchmark written by ``eval/run.py`` is appended to; anything else (the
  release's output, another benchmark's results, a damaged file) is refused and left as it is.
- Each finished item is appended as one JSON line (written and fsynced at once) and its full
  trajectory saved next to it. A rerun skips every uid that already has a result without
  error, so a killed run resumes where it stopped; items that ended in an error are tried again.
- Ctrl-C stops the run at once: nothing more is written (a question cut short leaves no line
  and no trajectory), the summary says how far it got, exit status 130; a rerun resumes.
- At the end the run is scored (``eval/score.py``'s tables) and its HTML report written beside
  the results (:func:`videotemp_o3.report.build_report`; ``--no-score`` skips both).
- Exit status: 0 all questions answered, scored and reported; 1 some questions ended in an
  error (a summary line says how many; a rerun retries them) or the report could not be
  written (a line says why); 2 bad input, or nothing could run.
- Several ``--base-url`` spread the questions over several servers (round-robin).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import signal
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from tqdm import tqdm

from .agent import Agent, Question
from .benchmarks import BENCHMARKS
from .benchmarks.base import BenchmarkError, Item, ResultsError
from .benchmarks.results import ResultRecord, append_result, detect_format, parse_results_file, read_results
from .benchmarks.score import add_setting_args, chosen_settings
from .engines.base import EngineError
from .engines.factory import check_engines
from .flags import (OneLineParser, add_agent_args, add_engine_args, agent_config, check_agent_args, integer,
                    make_engines_from_args)
from .video import VideoReader

PROG = "eval/run.py"
INTERRUPTED = 130  # the shell's status for a run ended by SIGINT


def question_of(item: Item) -> Question:
    return Question(item.question, item.task, item.options if item.task == "mcq" else ())


class ResultsFile:
    """The results file of one run: checked, then held exclusively while the run appends.

    :meth:`open` takes an exclusive ``flock`` on the file (a second run on it is refused with
    one line), then reads what is done. It appends only to a results file of ``bench`` written
    by ``eval/run.py`` (our records, every one with a ``uid`` and this benchmark): the
    release's output, another benchmark's results or an unreadable file raise
    :class:`ResultsError` and are left byte for byte as they were. A last line without its
    newline is kept when it is complete (the newline is added before appending) and cut only
    when it is the torn start of one of our own records (a run killed mid-write). A file
    this object created and left empty is removed on :meth:`close`.
    """

    def __init__(self, path: "str | Path", bench: Optional[str]):
        self.path = Path(path)
        self.bench = bench
        self.done: set[str] = set()
        self.notes: list[str] = []
        self._fd: Optional[int] = None
        self._created = False
        self._lock = threading.Lock()

    def __enter__(self) -> "ResultsFile":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> set[str]:
        if self.path.is_dir():
            raise ResultsError(f"{self.path}: is a directory; --output takes a file (e.g. {self.path}/results.jsonl)")
        self._created = not self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise ResultsError(f"{self.path}: cannot open for appending ({e.strerror}); pass another --output") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ResultsError(f"{self.path}: another eval/run.py is writing this results file; wait for it to "
                               "finish (a rerun then resumes) or pass another --output") from None
        self._fd = fd
        try:
            self.done = self._read_done(fd)
        except BaseException:
            self.close()
            raise
        return self.done

    def _read_done(self, fd: int) -> set[str]:
        data = self.path.read_bytes()
        if not data.strip():
            return set()
        keep = "it is left as it is; pass another --output"
        doc = parse_results_file(self.path)
        kind = "one JSON value" if doc.whole else detect_format(doc)
        if kind != "ours":
            what = {"one JSON value": "one JSON value (the release's {uid: answer} dict or Video-MME list?)",
                    "release": "the release's output (records with 'response')",
                    "uid-answer": "the release's {uid: answer} lines"}[kind]
            raise ResultsError(f"{self.path}: holds {what}, not results of eval/run.py; {keep}")
        try:
            results = read_results(self.path, self.bench, doc=doc)
        except ResultsError as e:
            raise ResultsError(f"{e}; {keep}") from None
        if not data.endswith(b"\n"):
            tail = data[data.rfind(b"\n") + 1:]
            if doc.torn_tail:
                if not tail.lstrip().startswith(b'{"uid"'):
                    raise ResultsError(f"{self.path}: the last line is incomplete and is not a result of eval/run.py; "
                                       f"{keep}")
                os.ftruncate(fd, len(data) - len(tail))
                self.notes.append(f"cut the incomplete last line of {self.path} (a run killed mid-write); "
                                  "its question runs again")
            else:
                os.write(fd, b"\n")  # a complete last record stays; appends start on a line of their own
        return {uid for uid, r in results.responses.items() if r.error is None}

    def append(self, record: ResultRecord) -> None:
        """Append one record (one fsynced line). Thread-safe."""
        with self._lock:
            append_result(self.path, record)

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            if self._created and os.fstat(self._fd).st_size == 0:
                self.path.unlink(missing_ok=True)  # nothing was written: leave no trace
        finally:
            os.close(self._fd)  # releases the lock
            self._fd = None


def finished_uids(path: Path, bench: Optional[str] = None) -> set[str]:
    """uids with a result and no error in the results file at ``path`` (see :class:`ResultsFile`
    for what is refused and how a torn last line is handled)."""
    with ResultsFile(path, bench) as results:
        return results.done


def check_videos(items: Sequence[Item], workers: int) -> dict[str, str]:
    """uid → reason for each item whose video is missing or unreadable (each file opened once)."""
    paths = sorted({str(i.video) for i in items})
    problems: dict[str, str] = {}

    def check(p: str) -> Optional[str]:
        if not os.path.exists(p):
            return "missing"
        try:
            VideoReader(p, num_threads=1).metadata  # noqa: B018 — opening is the check
        except Exception as e:  # noqa: BLE001 — any failure to open is reported, not raised
            return f"unreadable ({e})"
        return None

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for p, why in zip(paths, tqdm(pool.map(check, paths), total=len(paths), desc="checking videos", leave=False)):
            if why:
                problems[p] = why
    return {i.uid: problems[str(i.video)] for i in items if str(i.video) in problems}


def _safe_name(uid: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", uid)[:150]


def trajectories_dir(results: Path) -> Path:
    """Where the trajectories of the results file ``results`` are saved: ``<stem>.trajectories/`` beside it."""
    return results.parent / (results.stem + ".trajectories")


def trajectory_path(traj_dir: Path, uid: str) -> Path:
    """The trajectory file of ``uid`` in ``traj_dir`` (the uid made safe as a file name)."""
    return traj_dir / f"{_safe_name(uid)}.json"


@dataclass
class Interrupted(Exception):
    """Ctrl-C during :func:`run_items`: ``finished`` questions were written, ``errors`` of them
    with an error; nothing was written after the interrupt."""

    finished: int
    errors: int
    uids: list[str] = field(default_factory=list)


def run_items(bench: str, items: Sequence[Item], agents: Sequence[Agent], out: "Path | ResultsFile", *,
              workers: int = 1, traj_dir: Optional[Path] = None) -> int:
    """Runs ``items`` with ``workers`` questions in flight, question k on ``agents[k % len]``
    (e.g. one agent per server), appending each result to ``out`` and saving its trajectory;
    returns how many ended in an error. ``out``: a path (held as a :class:`ResultsFile` for the
    call) or an open :class:`ResultsFile`.

    On Ctrl-C (``KeyboardInterrupt`` in the calling thread) nothing more is written — queued
    questions are dropped, running ones finish unrecorded — and :class:`Interrupted` is raised
    at once, without waiting for the running questions.
    """
    if not isinstance(out, ResultsFile):
        with ResultsFile(out, bench) as results:
            return run_items(bench, items, agents, results, workers=workers, traj_dir=traj_dir)
    traj_dir = traj_dir or trajectories_dir(out.path)
    assign = threading.Lock()
    write = threading.Lock()
    stop = threading.Event()
    counter = iter(range(10**12))
    finished: list[str] = []

    def run_one(item: Item):
        if stop.is_set():
            return None
        with assign:
            agent = agents[next(counter) % len(agents)]
        traj = agent.run(item.video, question_of(item))
        rec = ResultRecord(uid=item.uid, bench=bench, raw=traj.raw, prediction=traj.prediction,
                           segments=traj.segments, calls=[len(t.clips) for t in traj.turns if t.clips],
                           turns=len(traj.turns), seconds=round(traj.seconds, 3), error=traj.error)
        with write:
            if stop.is_set():
                return None  # interrupted meanwhile: an engine torn down mid-question is no result
            traj.save(trajectory_path(traj_dir, item.uid))
            out.append(rec)
            finished.append(item.uid)
        return traj

    errors = 0
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="question")
    futures: list[Future] = []
    bar = tqdm(total=len(items), desc=bench, unit="q")
    try:
        futures.extend(pool.submit(run_one, i) for i in items)
        for f in as_completed(futures):
            traj = f.result()
            if traj is not None:
                errors += traj.error is not None
            bar.update()
            bar.set_postfix(errors=errors)
    except KeyboardInterrupt:
        # A second Ctrl-C while stopping would only turn a clean stop into a traceback.
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
        try:
            stop.set()
            for f in futures:
                f.cancel()
            with write:  # an append in progress completes; none starts after this
                pass
            bar.close()
            pool.shutdown(wait=False, cancel_futures=True)
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous)
        raise Interrupted(len(finished), errors, list(finished)) from None
    bar.close()
    pool.shutdown()
    return errors


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Run the VideoTemp-o3 agent on a benchmark (resumable), then score it.")
    p.add_argument("--bench", required=True, choices=list(BENCHMARKS), metavar="NAME",
                   help=f"benchmark: {', '.join(BENCHMARKS)}")
    p.add_argument("--data-dir", help="the benchmark's data folder (default eval/<bench>/data)")
    p.add_argument("--workers", type=integer(1), default=1, help="questions in flight at once")
    p.add_argument("--limit", type=integer(1), help="only the first N questions")
    p.add_argument("--output", help="results JSONL (default eval/<bench>/output/results.jsonl)")
    p.add_argument("--skip-missing-videos", action="store_true", help="run the items whose video is readable, skip the rest")
    p.add_argument("--no-score", action="store_true",
                   help="do not print the score table or write the HTML report at the end")
    add_setting_args(p, scopes=("data",))
    add_engine_args(p, several_servers=True)
    add_agent_args(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        parser = build_parser()
    except BenchmarkError as e:  # a benchmark module that cannot be registered
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    a = parser.parse_args(argv)
    bench = BENCHMARKS[a.bench]
    try:
        settings = chosen_settings(bench, a, scopes=("data",))
    except BenchmarkError as e:
        parser.error(str(e))
    problem = check_agent_args(a)
    if problem:
        parser.error(problem)
    try:
        config = agent_config(a)
    except ValueError as e:
        parser.error(f"agent settings: {e}")
    try:
        return _run(a, bench, settings, config)
    except KeyboardInterrupt:  # while loading, checking or scoring: no question was cut short
        print("\n[run] interrupted; nothing more was written. Run the same command again to go on.", file=sys.stderr)
        return INTERRUPTED


def _say(message: str) -> None:
    print(f"[run] {message}", file=sys.stderr)


def _run(a: argparse.Namespace, bench, settings: dict, config) -> int:
    try:
        items = bench.load(a.data_dir, settings)
    except BenchmarkError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    if a.limit is not None:
        items = items[: a.limit]
    out = Path(a.output) if a.output else bench.default_results()
    results = ResultsFile(out, bench.name)
    try:
        results.open()
    except ResultsError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    interrupted = False
    try:
        for note in results.notes:
            _say(note)
        todo = [i for i in items if i.uid not in results.done]
        print(f"[run] {bench.name}: {len(items)} questions, {len(items) - len(todo)} already done in {out}, "
              f"{len(todo)} to run")
        bad = check_videos(todo, max(2, a.workers))
        if bad:
            _say(f"{len(bad)} question(s) have a missing or unreadable video:")
            shown: dict[str, list[str]] = {}
            for uid, why in bad.items():
                shown.setdefault(why, []).append(uid)
            for why, uids in list(shown.items())[:20]:
                video = next(str(i.video) for i in todo if i.uid == uids[0])
                print(f"  {video}: {why} — {len(uids)} question(s), e.g. {uids[0]}", file=sys.stderr)
            if not a.skip_missing_videos:
                _say("stopping. Fix the data folder, or pass --skip-missing-videos to run the rest.")
                return 2
            todo = [i for i in todo if i.uid not in bad]
        errors = 0
        if todo:
            try:
                engines = make_engines_from_args(a)
                for line in check_engines(engines):
                    _say(line)
            except (EngineError, ValueError) as e:
                print(f"{PROG}: {e}", file=sys.stderr)
                return 2
            try:
                errors = run_items(bench.name, todo, [Agent(e, config) for e in engines], results, workers=a.workers)
            except Interrupted as stop:
                interrupted = True
                _say(f"interrupted: {stop.finished} of {len(todo)} question(s) finished and saved in {out} "
                     f"({stop.errors} with an error); nothing else was written. Run the same command again to go on.")
                return INTERRUPTED
            finally:
                if not interrupted:  # after Ctrl-C the process exits; questions may still hold the engines
                    for engine in engines:
                        engine.close()
            if errors:
                _say(f"{errors} of {len(todo)} question(s) ended in an error (see 'error' in {out}); "
                     "a rerun tries them again")
    finally:
        results.close()  # after Ctrl-C too: no question writes once the run is stopped
    rc = 1 if errors else 0
    if a.no_score:
        return rc
    from .benchmarks.score import main as score_main

    args = [bench.name, "--input_file", str(out)]
    if a.data_dir:
        args += ["--data-dir", a.data_dir]
    for setting in bench.settings:
        if setting.dest in settings:
            args += [setting.flag] if not setting.choices else [setting.flag, settings[setting.dest]]
    rc = max(rc, score_main(args))
    from .report import ReportError, build_report

    try:
        print(f"[run] report: {build_report(out, data_dir=a.data_dir, settings=settings)}")
    except ReportError as e:
        _say(f"no report: {e}")
        return max(rc, 1)
    return rc


def script_main(argv: Optional[Sequence[str]] = None) -> int:
    """``eval/run.py``'s entry point: :func:`main`, and after Ctrl-C an immediate exit — the
    questions still running would otherwise keep the process alive until they end (results
    are already on disk, line by line, so nothing is lost)."""
    rc = main(argv)
    if rc == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc
