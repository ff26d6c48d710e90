"""Fit the tiny model on the four seed trajectories (transformers 5.17 + ms-swift 4 template, CPU,
as the seeding SFT does on GPU), then greedy first turns of the RL prompts with (a) the positions
transformers 5.17 trains with and (b) the positions vLLM 0.26 computes for the same tokens."""
import os
import sys
import json
import types
import time
os.environ.update(VIDEO_MIN_PIXELS="3136", VIDEO_MAX_PIXELS="6272", FPS_MAX_FRAMES="64", FPS_MIN_FRAMES="4")
import torch
torch.manual_seed(0)
import fwd  # noqa: F401
from build import build
ckpt, media, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
import videotemp_o3.training.swift_plugin  # noqa: F401
from swift.model import get_processor
from swift.template import get_template
proc = get_processor(ckpt, model_type="qwen2_5_vl")
tpl = get_template(proc, template_type="qwen2_5_vl", max_length=8192)
from transformers import Qwen2_5_VLForConditionalGeneration
hm = Qwen2_5_VLForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32, attn_implementation="sdpa")
cfg, vm = build(ckpt)
VIDEO = hm.config.video_token_id
def fix(r):
    return [v.replace("/tmp/videotemp-media", media) for v in r["videos"]]

def tens(x):
    if torch.is_tensor(x):
        return x.clone()
    return x if torch.is_tensor(x) else torch.tensor(x)

seeds = [json.loads(line) for line in open(f"{media}/rl/sft_seed.jsonl")]
tpl.set_mode("train")
batches = []
for r in seeds:
    e = tpl.encode({"messages": r["messages"], "videos": fix(r)})
    batches.append(dict(input_ids=tens(e["input_ids"])[None], labels=tens(e["labels"])[None],
                        pixel_values_videos=e["pixel_values_videos"].clone(), video_grid_thw=e["video_grid_thw"].clone(),
                        second_per_grid_ts=tens(e["second_per_grid_ts"]),
                        mm_token_type_ids=tens(e["mm_token_type_ids"]).reshape(1, -1)))
opt = torch.optim.AdamW(hm.parameters(), lr=5e-3)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
hm.train()
t0 = time.time()
for s in range(steps):
    b = batches[s % len(batches)]
    loss = hm(**b).loss
    loss.backward()
    opt.step()
    sched.step()
    opt.zero_grad()
    if s % 25 == 0 or s == steps - 1:
        print(f"step {s} loss {loss.item():.4f} ({time.time() - t0:.0f}s)", flush=True)
hm.eval()

def vllm_positions(ids, grids, secs):
    offsets, i = [], 0
    ids_l = ids.tolist()
    while i < len(ids_l):
        if ids_l[i] == VIDEO:
            offsets.append(i)
            while i < len(ids_l) and ids_l[i] == VIDEO:
                i += 1
        else:
            i += 1
    feats = [types.SimpleNamespace(modality="video", mm_position=types.SimpleNamespace(offset=o),
                                   data={"video_grid_thw": types.SimpleNamespace(data=g),
                                         "second_per_grid_ts": types.SimpleNamespace(data=torch.tensor(float(t)))})
             for o, g, t in zip(offsets, grids, secs)]
    pos, _ = vm.get_mrope_input_positions(ids_l, feats)
    return pos

@torch.no_grad()
def greedy(e, which, n=40):
    ids = tens(e["input_ids"])
    grid, secs = e["video_grid_thw"], tens(e["second_per_grid_ts"])
    mmt0 = tens(e["mm_token_type_ids"]).reshape(-1)
    vis = hm.model.get_video_features(e["pixel_values_videos"], grid).pooler_output
    vis = torch.cat(list(vis))
    out = []
    for _ in range(n):
        cur = torch.cat([ids, torch.tensor(out, dtype=ids.dtype)])
        mmt = torch.cat([mmt0, torch.zeros(len(out), dtype=mmt0.dtype)])[None]
        if which == "transformers":
            pos, _ = hm.model.get_rope_index(cur[None], mmt, video_grid_thw=grid, second_per_grid_ts=secs)
        else:
            pos = vllm_positions(cur, grid, secs)[:, None, :]
        emb = hm.model.get_input_embeddings()(cur[None])
        emb[0, cur == VIDEO] = vis
        logits = hm(inputs_embeds=emb, position_ids=pos, attention_mask=torch.ones(1, len(cur), dtype=torch.long)).logits[0, -1]
        t = int(logits.argmax())
        out.append(t)
        if t == proc.tokenizer.convert_tokens_to_ids("<|im_end|>"):
            break
    return proc.tokenizer.decode(out)

tpl.set_mode("transformers")
for r in seeds:
    first = next(i for i, m in enumerate(r["messages"]) if m["role"] == "assistant")
    msgs = r["messages"][:first]
    e = tpl.encode({"messages": msgs, "videos": fix(r)[:1]})
    print("==", r["task"], r["videos"][0].rsplit("/", 1)[-1], "| trained:", repr(r["messages"][first]["content"][:70]))
    for which in ("transformers", "vllm"):
        print(f"   {which:>12} positions: {greedy(e, which)!r}")
