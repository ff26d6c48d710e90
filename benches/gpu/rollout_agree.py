#!/usr/bin/env python
"""Does the rollout server compute what the trainer's model computes? Greedy first turns of the
same prompts from ``swift rollout`` (vLLM) and from ms-swift's transformers engine, side by side.

    python benches/gpu/rollout_agree.py --policy CKPT --server http://127.0.0.1:8000 \
        --data rl/sft_seed.jsonl --label before [--rows 4] [--tokens 48] [--out DIR]

Why: GRPO trains on whatever the server generates. A server whose model differs from the
trainer's (a checkpoint read differently by vLLM, weights mangled by the per-step sync) still
produces completions, rewards and losses — only garbage ones — so the step table alone cannot
tell. Each prompt is a record's conversation up to its first assistant turn (the system prompt,
the question, the overview video), encoded by ms-swift's own template on both sides under the
same ``VIDEO_*``/``FPS_*`` environment; each prompt also without its video (text only), which
tells the vision path from the language model. Temperature 0 on both sides; the server runs its
multi-turn scheduler, and its first assistant message is compared.

Run it before GRPO (the server holds the checkpoint it loaded from disk) and after (it holds the
weights last pushed by the trainer; compare against the trainer's saved checkpoint). Writes
``rollout_agree_<label>.md``/``.json`` to --out (default $OUT or benches/out): per prompt the
record's own first turn, the local greedy turn, the server's, and their common prefixes. bf16
kernels differ between the two engines, so a long greedy text may part late; a different
function parts at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from videotemp_o3.jsonl import iter_jsonl


def first_turn_prompt(record: dict) -> tuple[list[dict], list[str], str]:
    """(messages up to the first assistant turn, the videos they reference, that turn's text)."""
    messages = record["messages"]
    first = next(i for i, m in enumerate(messages) if m["role"] == "assistant")
    prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:first]]
    n_videos = sum(m["content"].count("<video>") for m in prompt)
    return prompt, list(record.get("videos") or [])[:n_videos], messages[first]["content"]


def without_video(messages: list[dict]) -> list[dict]:
    return [dict(m, content=m["content"].replace("<video>", "")) for m in messages]


def common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


def local_turns(policy: str, prompts: list[tuple[list[dict], list[str]]], tokens: int) -> list[str]:
    from swift.infer_engine import InferRequest, RequestConfig, TransformersEngine

    engine = TransformersEngine(policy, model_type="qwen2_5_vl", template_type="qwen2_5_vl")
    config = RequestConfig(max_tokens=tokens, temperature=0)
    out = engine.infer([InferRequest(messages=m, videos=v) for m, v in prompts], config, use_tqdm=False)
    return [r.choices[0].message.content for r in out]


def server_turns(server: str, prompts: list[tuple[list[dict], list[str]]], tokens: int) -> list[str]:
    from swift.infer_engine.protocol import RequestConfig, RolloutInferRequest
    from swift.rlhf_trainers.vllm_client import VLLMInferClient

    client = VLLMInferClient(base_urls=[server], connection_timeout=60)
    config = RequestConfig(max_tokens=tokens, temperature=0)
    texts = []
    for messages, videos in prompts:  # one at a time: the scheduler's turns stay with their prompt
        out = client.infer([RolloutInferRequest(messages=messages, videos=videos)], config)[0]
        history = getattr(out, "messages", None)
        if history and len(history) > len(messages):
            texts.append(history[len(messages)]["content"])
        else:
            texts.append(out.response.choices[0].message.content)
    return texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policy", required=True, help="checkpoint directory of the trainer's model")
    ap.add_argument("--server", required=True, help="the rollout server's base URL (http://host:port)")
    ap.add_argument("--data", required=True, help="SFT-format JSONL (messages, videos)")
    ap.add_argument("--label", default="check", help="names the output files")
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=48, help="new tokens per greedy turn")
    ap.add_argument("--out", default=os.environ.get("OUT") or "benches/out")
    args = ap.parse_args(argv)

    records = [line.value for _, line in zip(range(args.rows), iter_jsonl(args.data))]
    if not records:
        print(f"rollout_agree: --data {args.data} has no records", file=sys.stderr)
        return 2
    built = [first_turn_prompt(r) for r in records]
    # Each prompt twice: as recorded, and without its video — a server that agrees on text alone
    # but not with the video has its vision path wrong, one that disagrees on both its language model.
    prompts = [(m, v) for m, v, _ in built] + [(without_video(m), []) for m, _, _ in built]
    local = local_turns(args.policy, prompts, args.tokens)
    served = server_turns(args.server, prompts, args.tokens)

    rows = []
    kinds = ["video"] * len(built) + ["text only"] * len(built)
    for i, (kind, mine, theirs) in enumerate(zip(kinds, local, served)):
        record, (_, _, own) = records[i % len(built)], built[i % len(built)]
        rows.append({"id": record.get("id"), "prompt": kind, "record": own, "local": mine, "server": theirs,
                     "local_vs_record": common_prefix(mine, own), "server_vs_local": common_prefix(theirs, mine)})
    same = sum(r["server"] == r["local"] for r in rows)
    lines = [f"Greedy first turns, {args.label}: the rollout server against ms-swift's transformers engine on "
             f"{args.policy} ({args.tokens} new tokens; {same} of {len(rows)} identical).", "",
             "| record | prompt | local = record's turn (chars) | server = local (chars of local) | server's turn (start) |",
             "|---|---|---|---|---|"]
    for r in rows:
        start = r["server"][:70].replace("|", "\\|").replace("\n", "⏎")
        lines.append(f"| {r['id']} | {r['prompt']} | {r['local_vs_record']} of {len(r['record'])} | "
                     f"{r['server_vs_local']} of {len(r['local'])} | `{start}` |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rollout_agree_{args.label}.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False))
    (out / f"rollout_agree_{args.label}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
