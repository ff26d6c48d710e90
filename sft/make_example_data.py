"""A tiny SFT data set in the release's layout, built from generated videos (no download).

    python sft/make_example_data.py [ROOT]        # default: runs/sft_example

writes ROOT/data/{wo_tool_call,wi_tool_call}/*.jsonl — the release's eight file names — from
the synthetic benchmark's videos (a coloured square on screen for a known span), through the
same builder the real annotations go through, then validates them. Use it to try the recipe:

    DATA=runs/sft_example/data bash sft/sft.sh

Clips are cut under the video budget in the environment (default: the release's training
budget); set the same VIDEO_* variables here as for training.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from videotemp_o3 import protocol, synthetic
from videotemp_o3.jsonl import iter_jsonl
from videotemp_o3.training.sft_check import validate_files
from videotemp_o3.training.sft_data import BuildConfig, build_file, release_files
from videotemp_o3.budgets import TRAINING_VIDEO_ENV
from videotemp_o3.video import VideoReader


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", nargs="?", default="runs/sft_example")
    p.add_argument("--durations", type=float, nargs="+", default=[40, 60, 90, 120],
                   help="video lengths in seconds (one video each)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    for key, value in TRAINING_VIDEO_ENV.items():
        os.environ.setdefault(key, value)

    root = Path(a.root).resolve()
    print(f"generating {len(a.durations)} videos under {root / 'bench'} ...")
    bench = synthetic.generate(root / "bench", durations=a.durations, seed=a.seed)
    grounding, mcq = [], []
    for row in (line.value for line in iter_jsonl(bench)):
        video = str(root / "bench" / row["videos"][0])
        question, *options = row["question"].split("\n")
        grounding.append({"video": video, "query": row["query"], "span": row["timestamp"],
                          "id": row["uid"] + "_g"})
        mcq.append({"video": video, "question": question, "options": [o[3:] for o in options],
                    "answer": row["answer"], "span": row["timestamp"], "id": row["uid"] + "_q"})
    ann_dir = root / "annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in (("grounding", grounding), ("mcq", mcq)):
        (ann_dir / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    data = root / "data"
    clips = root / "clips"
    # Which annotations feed which file, and whether its trajectories call the tool.
    plan = {
        "wo_tool_call/activitynet": ("grounding", False), "wo_tool_call/charades": ("grounding", False),
        "wo_tool_call/vidchapters": ("grounding", False), "wo_tool_call/video_r1_video": ("mcq", False),
        "wi_tool_call/activitynet": ("grounding", True), "wi_tool_call/longvila": ("mcq", True),
        "wi_tool_call/qvhighlight": ("grounding", True),
    }
    for k, (name, (source, tools)) in enumerate(plan.items()):
        out = data / f"{name}.jsonl"
        report = build_file(ann_dir / f"{source}.jsonl", out, clips,
                            BuildConfig(with_tool_calls=tools, seed=a.seed + k), progress=False)
        print(f"{out}: {report.records} records, {report.clips} clips")
    write_image_mc(mcq, data / "wo_tool_call" / "video_r1_image_mc.jsonl", root / "images")

    bad = 0
    for _name, _n, problems in validate_files(release_files(data)):
        bad += len(problems)
        for problem in problems:
            print(problem, file=sys.stderr)
    print(f"validated {len(release_files(data))} files: {'all good' if not bad else f'{bad} problems'}")
    return 1 if bad else 0


def write_image_mc(mcq: list[dict], out: Path, image_dir: Path) -> None:
    """Image multiple choice (the release's video_r1_image_mc): one frame from inside the span."""
    from PIL import Image

    image_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for row in mcq:
        start, end = row["span"]
        frame = VideoReader(row["video"]).frames_at([(start + end) / 2]).frames[0]
        image = image_dir / f"{row['id']}.png"
        Image.fromarray(frame).save(image)
        record = {"messages": [
            {"role": "system", "content": protocol.system_prompt()},
            {"role": "user", "content": "<image>" + protocol.mcq_prompt(row["question"], row["options"])},
            {"role": "assistant", "loss": True, "content": protocol.render_turn(
                f"The square in the image matches option {row['answer']}.", answer=row["answer"])}],
            "images": [str(image)], "task": "mcq", "id": row["id"]}
        lines.append(json.dumps(record, ensure_ascii=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(line + "\n" for line in lines))
    print(f"{out}: {len(lines)} records")


if __name__ == "__main__":
    sys.exit(main())
