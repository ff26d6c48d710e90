"""The HTML report of a run (``videotemp report``), opened in a real headless browser.

A small run is made here with a scripted policy (the agent, video layer and files are real; the
replies are scripted so that every kind of question shows up: a refined call then a right
answer, a direct right answer, a rejected call then a wrong answer, an unparsed reply). Its
report is opened in Debian's Chromium through playwright: the list, the filters (by clicking,
and from the URL fragment), a question's timeline, turns and thumbnails, the score text, the
no-video and the large-run (details in files beside the page) variants, and a screenshot.
"""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from videotemp_o3 import protocol, segments
from videotemp_o3.agent import Agent, AgentConfig
from videotemp_o3.benchmarks import get_benchmark
from videotemp_o3.benchmarks.score import format_report, score, table_flags
from videotemp_o3.benchmarks.score import main as score_main
from videotemp_o3.cli import main as cli_main
from videotemp_o3.engines.base import Engine, Generation
from videotemp_o3.evaluate import run_items, trajectories_dir, trajectory_path
from videotemp_o3.report import build_report
from videotemp_o3.synthetic import generate
from videotemp_o3.video import FrameBudget

# Slow: every test reads a run on four generated videos of 30 s to 4 min, most in a headless Chromium.
pytestmark = pytest.mark.slow

CLIP_FRAMES = 8


class Scripted(Engine):
    """Replies from a list, in order, with fixed token counts and timings."""

    def __init__(self, replies):
        self.replies = list(replies)

    def generate(self, messages, **kw):
        return Generation(self.replies.pop(0), prompt_tokens=1500, completion_tokens=40, visual_tokens=1200,
                          prefill_seconds=0.25, decode_seconds=0.5, seconds=0.75)


def make_run(data: Path, results: Path) -> dict:
    """Runs the scripted policy over the four questions of ``data``; the results go to ``results``."""
    items = get_benchmark("videotemp").load(data)
    gold = [i.answer for i in items]
    wrong = "ABCD"[("ABCD".index(gold[2]) + 1) % 4]
    s0, e0 = items[0].spans[0]
    wide = (max(0.0, s0 - 8), min(30.0, e0 + 8))
    replies = [
        protocol.render_turn("It should be early on.", segments=[wide]),
        protocol.render_turn("Narrower now.", segments=[(s0, e0)]),
        protocol.render_turn("The square is clear.", answer=gold[0]),
        protocol.render_turn("I can tell from the overview.", answer=gold[1]),
        "<think>Look backwards.</think><tool_call>[120, 60]</tool_call>",
        protocol.render_turn("A guess then.", answer=wrong),
        "<think>No idea at all.</think><answer>maybe</answer>",
    ]
    agent = Agent(Scripted(replies), AgentConfig(
        overview_budget=FrameBudget(nframes=16, max_pixels=12544, min_pixels=3136),
        clip_budget=FrameBudget(fps=1.0, max_frames=CLIP_FRAMES, max_pixels=12544, min_pixels=3136)))
    assert run_items("videotemp", items, [agent], results) == 0
    return {"data": data, "results": results, "items": items, "wide": wide,
            "outcomes": ["right", "right", "wrong", "unparsed"]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Four questions on four short videos (two in each of the first two duration bins)."""
    root = tmp_path_factory.mktemp("report")
    generate(root / "data", durations=(30, 50, 190, 240), progress=False)
    return make_run(root / "data", root / "videotemp.jsonl")


@pytest.fixture(scope="module")
def page(run):
    return build_report(run["results"], data_dir=run["data"], log=lambda _m: None)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is not installed: run bash scripts/setup.sh (it installs Debian's chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser, path: Path, fragment: str = ""):
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(path.resolve().as_uri() + fragment)
    tab.wait_for_selector("body[data-ready='1']")
    tab.errors = errors
    return tab


def rows(tab) -> list[tuple[str, str]]:
    return [(li.get_attribute("data-uid"), li.get_attribute("data-outcome")) for li in tab.query_selector_all("#list li.q")]


def test_score_json_has_per_item_records(run, capsys):
    assert score_main(["videotemp", "--data-dir", str(run["data"]), "--input_file", str(run["results"]), "--json"]) == 0
    items = {r["uid"]: r for r in json.loads(capsys.readouterr().out)["items"]}
    uids = [i.uid for i in run["items"]]
    assert list(items) == uids
    first, direct, rejected, unparsed = (items[u] for u in uids)
    truth = run["items"][0].spans
    assert first["turns"] == 3 and first["calls"] == 2 and first["correct"] is True
    assert first["call_ious"] == pytest.approx([segments.best_iou(run["wide"], truth), 1.0])
    assert first["last_call_iou"] == pytest.approx(1.0) and first["call_ious"][0] < 1.0
    assert first["prediction"] == run["items"][0].answer and first["iou"] is None
    assert direct["calls"] == 0 and direct["last_call_iou"] is None and direct["call_ious"] == []
    assert rejected["turns"] == 2 and rejected["calls"] == 0 and rejected["correct"] is False
    assert unparsed["status"] == "unparsed" and unparsed["correct"] is False and unparsed["prediction"] is None


def test_call_ious_follow_the_calls_field(run):
    """Two clips in one call make one call IoU (the better clip); without ``calls`` (older files)
    each clip counts as a call."""
    from videotemp_o3.benchmarks.base import Judgement
    from videotemp_o3.benchmarks.results import Response
    from videotemp_o3.benchmarks.score import item_record

    item = run["items"][0]
    s, e = item.spans[0]
    miss, hit = (s + 100.0, e + 100.0), (s, e)
    grouped = item_record(item, Judgement("scored", "A"), Response(item.uid, "A", (miss, hit), calls=(2,), turns=2))
    assert grouped["calls"] == 1 and grouped["call_ious"] == [1.0] and grouped["segment_ious"] == [0.0, 1.0]
    flat = item_record(item, Judgement("scored", "A"), Response(item.uid, "A", (hit, miss), turns=3))
    assert flat["calls"] == 2 and flat["call_ious"] == [1.0, 0.0] and flat["last_call_iou"] == 0.0
    wrong_sum = item_record(item, Judgement("scored", "A"), Response(item.uid, "A", (hit, miss), calls=(3,)))
    assert wrong_sum["calls"] == 2  # counts that do not add up are not trusted


def test_list_filters_and_score_text(page, run, browser):
    tab = open_page(browser, page)
    uids = [i.uid for i in run["items"]]
    assert rows(tab) == list(zip(uids, run["outcomes"]))
    # The score tables are score.py's text, every table switched on.
    scored = score("videotemp", run["results"], run["data"])
    expected = format_report(scored, table_flags(scored))
    assert tab.inner_text("#score").strip() == expected.strip()
    # Filters, by clicking: outcome, then bin, then turns, then uid search.
    tab.select_option("select[name=outcome]", "wrong")
    assert rows(tab) == [(uids[2], "wrong")]
    assert tab.get_attribute("body", "data-shown") == "1" and "outcome=wrong" in tab.url
    tab.select_option("select[name=outcome]", "")
    tab.select_option("select[name=group]", "3-10min")
    assert [u for u, _ in rows(tab)] == uids[2:]
    tab.select_option("select[name=group]", "")
    tab.select_option("select[name=turns]", "1")
    assert [u for u, _ in rows(tab)] == [uids[1], uids[3]]
    tab.select_option("select[name=turns]", "")
    tab.fill("input[name=q]", uids[1][:8].upper())  # case-insensitive substring of the uid
    assert [u for u, _ in rows(tab)] == [uids[1]]
    assert tab.inner_text("#count").startswith("1 of 4")
    assert not tab.errors


def test_question_details_timeline_and_thumbnails(page, run, browser, tmp_path):
    uids = [i.uid for i in run["items"]]
    # The fragment sets a filter and opens a question, as a shared link would.
    tab = open_page(browser, page, f"#outcome=right&open={uids[0]}")
    assert [u for u, _ in rows(tab)] == uids[:2]
    detail = tab.wait_for_selector(f"#list li.q[data-uid='{uids[0]}'] .detail .timeline svg")
    li = tab.query_selector(f"#list li.q[data-uid='{uids[0]}']")
    # Timeline: the truth, the two requested clips (turns 1 and 2) — three spans; the second clip
    # is the truth itself, so its label says IoU 1.00.
    assert len(li.query_selector_all(".timeline rect.span")) == 3
    labels = [t.text_content() for t in li.query_selector_all(".timeline text.iou")]
    iou0 = segments.best_iou(run["wide"], run["items"][0].spans)
    assert labels == [f"IoU {iou0:.2f}", "IoU 1.00"]
    turns = li.query_selector_all(".turn")
    assert len(turns) == 3
    assert "Narrower now." in turns[1].inner_text() and "answer: " + run["items"][0].answer in turns[2].inner_text()
    assert "1500 prompt (1200 visual) · 40 generated tokens" in turns[0].inner_text()
    # Thumbnails: every clip shows the frames it returned (8 at most), all decoded and loaded.
    clip_imgs = [c.query_selector_all("img") for c in li.query_selector_all(".clip")]
    assert [len(c) for c in clip_imgs] == [CLIP_FRAMES, CLIP_FRAMES]
    overview = li.query_selector_all("[data-slot=overview] img")
    assert overview
    for img in [*overview, *clip_imgs[0], *clip_imgs[1]]:
        img.scroll_into_view_if_needed()
        assert tab.evaluate("(i) => i.complete && i.naturalWidth > 0", img), img.get_attribute("src")
    # The second clip is the truth span: its first and last thumbnails are at its ends.
    s0, e0 = run["items"][0].spans[0]
    clip2 = [_seconds(f.inner_text()) for f in turns[1].query_selector_all("figcaption")]
    assert abs(clip2[0] - s0) < 1.0 and abs(clip2[-1] - e0) < 1.0 and clip2 == sorted(clip2)
    # The thumbnails are the frames the model got: first and last at the times the agent recorded.
    traj = json.loads(trajectory_path(trajectories_dir(run["results"]), uids[0]).read_text())
    for k, clip in enumerate(c for t in traj["turns"] for c in t["clips"]):
        caps = [_seconds(f.inner_text()) for f in li.query_selector_all(".clip")[k].query_selector_all("figcaption")]
        assert caps[0] == pytest.approx(clip["first_frame"], abs=0.051)
        assert caps[-1] == pytest.approx(clip["last_frame"], abs=0.051)
    # The rejected call: its problem and observation, and a dashed span where it asked.
    tab.select_option("select[name=outcome]", "wrong")
    tab.click(f"#list li.q[data-uid='{uids[2]}'] button.head")
    li = tab.wait_for_selector(f"#list li.q[data-uid='{uids[2]}'] .detail")
    assert "rejected (reversed)" in li.inner_text()
    assert li.query_selector(".timeline rect[stroke-dasharray]") is not None
    assert "observation sent back" in li.inner_text()
    tab.click(f"#list li.q[data-uid='{uids[2]}'] button.head")  # closes again
    assert tab.query_selector(f"#list li.q[data-uid='{uids[2]}'] .detail") is None
    shot = tmp_path / "report.png"
    tab.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert not tab.errors and detail


def _seconds(clock: str) -> float:
    m, s = clock.split(":")
    return int(m) * 60 + float(s)


def test_report_without_videos_shows_timelines_and_says_so(run, browser, tmp_path):
    shutil.copytree(run["data"], tmp_path / "data")
    gone = make_run(tmp_path / "data", tmp_path / "run.jsonl")
    shutil.rmtree(tmp_path / "data" / "videos")  # the run's videos are no longer there
    page = build_report(gone["results"], data_dir=tmp_path / "data", log=lambda _m: None)
    assert not list((tmp_path / "run.report_files").rglob("*.webp"))
    uid = gone["items"][0].uid
    tab = open_page(browser, page, f"#open={uid}")
    li = tab.wait_for_selector(f"#list li.q[data-uid='{uid}'] .detail")
    assert "4 of 4 questions' videos were not found" in tab.inner_text("header .notes")
    assert "video not found when the report was built" in li.inner_text()
    assert li.query_selector_all("img") == []
    assert len(li.query_selector_all(".timeline rect.span")) == 3 and len(li.query_selector_all(".turn")) == 3
    assert rows(tab) == [(i.uid, o) for i, o in zip(gone["items"], gone["outcomes"])]
    assert not tab.errors


def test_large_run_details_load_from_files_beside_the_page(run, browser, tmp_path):
    """Details in script files beside the page (what a large run gets); here also without the
    trajectory files, so the turns come from the results file alone."""
    results = tmp_path / "copy.jsonl"
    shutil.copy(run["results"], results)
    page = build_report(results, data_dir=run["data"], out=tmp_path / "big.html", thumbnails=False,
                        inline_details=0, log=lambda _m: None)
    assert sorted(p.name for p in (tmp_path / "big_files" / "details").iterdir()) == ["0.js"]
    assert 'id="detail-0"' not in page.read_text()
    uid = run["items"][0].uid
    tab = open_page(browser, page)
    tab.click(f"#list li.q[data-uid='{uid}'] button.head")
    li = tab.wait_for_selector(f"#list li.q[data-uid='{uid}'] .detail .timeline svg")
    li = tab.query_selector(f"#list li.q[data-uid='{uid}']")
    assert len(li.query_selector_all(".timeline rect.span")) == 3 and len(li.query_selector_all(".turn")) == 2
    assert "no trajectory file" in li.inner_text()
    notes = tab.inner_text("header .notes")
    assert "thumbnails were not drawn" in notes and "4 question(s) have no trajectory file" in notes
    assert not tab.errors


def test_model_text_is_shown_not_run(run, browser, tmp_path):
    """A reply that contains markup is text on the page: no element, no script, no broken block."""
    evil = '<script>window.pwned = 1</script></script><img src=x onerror="window.pwned=2">'
    results = tmp_path / "r.jsonl"
    lines = [json.loads(line) for line in run["results"].read_text().splitlines()]
    lines[3]["raw"] = f"<think>{evil}</think><answer>{evil}</answer>"
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    page = build_report(results, data_dir=run["data"], thumbnails=False, log=lambda _m: None)
    uid = run["items"][3].uid
    tab = open_page(browser, page, f"#open={uid}")
    li = tab.wait_for_selector(f"#list li.q[data-uid='{uid}'] .detail")
    li.query_selector("details.raw summary").click()
    assert evil in li.inner_text()
    assert tab.evaluate("window.pwned") is None
    assert not tab.errors


def test_cli_report_and_its_errors(run, tmp_path, capsys):
    out = tmp_path / "cli.html"
    assert cli_main(["report", str(run["results"]), "--data-dir", str(run["data"]), "--out", str(out),
                     "--no-thumbnails"]) == 0
    assert capsys.readouterr().out.strip() == f"report: {out}"
    assert cli_main(["report", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: results file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"uid": "a"}\n{"uid": "b", "raw": ""\n{"uid": "c"}\n')
    assert cli_main(["report", str(bad), "--bench", "videotemp", "--data-dir", str(run["data"])]) == 2
    assert "bad.jsonl:2: invalid JSON" in capsys.readouterr().err
    nameless = tmp_path / "nameless.jsonl"
    nameless.write_text('{"uid": "a", "raw": ""}\n')
    assert cli_main(["report", str(nameless)]) == 2
    assert "do not name their benchmark; pass --bench" in capsys.readouterr().err
    assert cli_main(["report", str(run["results"]), "--data-dir", str(tmp_path / "gone")]) == 2
    assert "pass --data-dir" in capsys.readouterr().err
    # A data switch of another benchmark, an unknown benchmark: one line each, nothing written.
    assert cli_main(["report", str(run["results"]), "--data-dir", str(run["data"]), "--mcq-only",
                     "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--mcq-only applies to videommmu only, not videotemp" in err
    assert cli_main(["report", str(run["results"]), "--bench", "nosuch", "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown benchmark 'nosuch'" in err and "pass --bench" in err
    assert not (tmp_path / "x.html").exists()


def test_eval_run_ends_with_the_report(run, tiny_model_dir, tmp_path):
    """eval/run.py (the real tiny model) scores the run, then writes its report and prints the
    path; the report reads the questions as the run asked them (its data switches)."""
    from videotemp_o3.evaluate import main

    out = tmp_path / "results.jsonl"
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["--bench", "videotemp-g", "--data-dir", str(run["data"]), "--model", str(tiny_model_dir),
                   "--device", "cpu", "--output", str(out), "--limit", "1", "--overview-frames", "8",
                   "--overview-pixels", "6272", "--clip-pixels", "6272", "--clip-max-frames", "8",
                   "--max-new-tokens", "8", "--grounding-query", "stem"])
    assert rc == 0
    printed = buf.getvalue()
    page = tmp_path / "results.report.html"
    assert f"[run] report: {page}" in printed and page.is_file()
    index = page.read_text()
    assert run["items"][0].uid in index and "VideoTemp-Bench (grounding)" in index
    bench = get_benchmark("videotemp-g")
    stem = bench.load(run["data"], {"grounding_query": "stem"})[0].question
    query = bench.load(run["data"])[0].question
    assert stem != query
    assert json.dumps(stem) in index and json.dumps(query) not in index
