"""The first RL prompt (system, question, overview video) through both engines' input paths:
ms-swift 4's template in vllm mode (our plugin loaded) -> vLLM 0.26's multimodal processor, mrope
positions, vision tower and language model (pure torch), against ms-swift's template in
transformers mode -> transformers 5.17's Qwen2.5-VL. Same checkpoint, fp32, CPU."""
import os
import sys
import json
os.environ.update(VIDEO_MIN_PIXELS="3136", VIDEO_MAX_PIXELS="6272", FPS_MAX_FRAMES="64", FPS_MIN_FRAMES="4")
import torch
import fwd  # noqa: F401  (its import patches vLLM's custom ops and attention for CPU)
from build import build
ckpt, media = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for name in ("qa", "grounding") for line in open(f"{media}/rl/data/{name}.jsonl")]
import videotemp_o3.training.swift_plugin  # noqa: F401  (the rollout server loads it: rl/plugin.py)
from swift.model import get_processor
from swift.template import get_template
proc = get_processor(ckpt, model_type="qwen2_5_vl")
tpl = get_template(proc, template_type="qwen2_5_vl")
cfg, vm = build(ckpt)
from safetensors.torch import load_file
vm.load_weights(list(load_file(f"{ckpt}/model.safetensors").items()))
from transformers import Qwen2_5_VLForConditionalGeneration
hm = Qwen2_5_VLForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32, attn_implementation="sdpa").eval()
from vllm.multimodal import MULTIMODAL_REGISTRY
from vllm.multimodal.processing.inputs import ProcessorInputs
from vllm.multimodal.processing.context import TimingContext
vproc = MULTIMODAL_REGISTRY.create_processor(cfg.model_config)

for row in rows[:2]:
    msgs = [m for m in row["messages"] if m["role"] != "assistant"]
    videos = [v.replace("/tmp/videotemp-media", media) for v in row["videos"]]
    tpl.set_mode("vllm")
    ev = tpl.encode({"messages": msgs, "videos": videos})
    tpl.set_mode("transformers")
    et = tpl.encode({"messages": msgs, "videos": videos})
    print("== row", row.get("uid", ""), "| vllm-mode mm_processor_kwargs:",
          {k: (v if k != "video_metadata" else [vars(x) if hasattr(x, "__dict__") else x for x in v]) for k, v in (ev.get("mm_processor_kwargs") or {}).items()})
    vt = ev["videos"][0]
    print("   video sent to vLLM:", type(vt).__name__, tuple(vt.shape), vt.dtype, float(vt.min()), float(vt.max()))
    mm_items = vproc.info.parse_mm_data({"video": vt if len(ev["videos"]) == 1 else ev["videos"]})
    out = vproc.apply(ProcessorInputs(prompt=ev["input_ids"], mm_data_items=mm_items,
                                      hf_processor_mm_kwargs=ev.get("mm_processor_kwargs") or {}), TimingContext())
    vids = out["prompt_token_ids"]
    hids = et["input_ids"]
    print(f"   tokens: vLLM {len(vids)}, transformers {len(hids)}, identical {vids == hids}")
    item = out["mm_kwargs"]["video"][0]
    vpix = item["pixel_values_videos"].data
    vgrid = item["video_grid_thw"].data
    vsec = item.get("second_per_grid_ts")
    print("   grid vLLM", vgrid.tolist(), "transformers", et["video_grid_thw"].tolist(),
          "| second_per_grid_ts vLLM", None if vsec is None else vsec.data.tolist(), "transformers", et.get("second_per_grid_ts"))
    print("   pixel_values_videos max |diff|", float((vpix.float() - et["pixel_values_videos"].float()).abs().max()) if vpix.shape == et["pixel_values_videos"].shape else ("shapes", vpix.shape, et["pixel_values_videos"].shape))
    # positions
    from vllm.multimodal.inputs import MultiModalFeatureSpec
    ph = out["mm_placeholders"]["video"][0]
    feat = MultiModalFeatureSpec(data=item, modality="video", identifier="x", mm_position=ph)
    vpos, delta = vm.get_mrope_input_positions(vids, [feat])
    hkw = {k: et[k] for k in ("video_grid_thw", "second_per_grid_ts") if k in et}
    if "second_per_grid_ts" in hkw and not torch.is_tensor(hkw["second_per_grid_ts"]):
        hkw["second_per_grid_ts"] = torch.tensor(hkw["second_per_grid_ts"])
    mmt = et["mm_token_type_ids"]
    mmt = (mmt if torch.is_tensor(mmt) else torch.tensor(mmt)).reshape(1, -1)
    print("   transformers-mode encoding keys:", sorted(et.keys()))
    hpos, hdelta = hm.model.get_rope_index(torch.tensor([hids]), mmt, **hkw, attention_mask=torch.ones(1, len(hids), dtype=torch.long))
    print(f"   mrope positions identical {torch.equal(vpos, hpos[:, 0])}; last position vLLM {vpos[:, -1].tolist()} transformers {hpos[:, 0, -1].tolist()}; delta {delta} vs {hdelta.tolist()}")
    vp, hp = vpos.numpy(), hpos[:, 0].numpy()
    import numpy as np
    vmask = np.array(vids) == cfg.model_config.hf_config.video_token_id
    first = int(np.argmax(vmask))
    n = int(vmask.sum())
    print(f"   video tokens {first}..{first + n - 1}; text before identical {np.array_equal(vp[:, :first], hp[:, :first])}")
    for name, p in (("vLLM", vp), ("transformers", hp)):
        seg = p[:, first:first + n]
        print(f"   {name}: video t values {sorted(set(seg[0].tolist()))[:12]}... h max {seg[1].max()} w max {seg[2].max()}; first text after video {p[:, first + n].tolist()}")
    if os.environ.get("STOP_AFTER_POSITIONS"):
        continue
    with torch.no_grad():
        venc = vm.embed_multimodal(pixel_values_videos=vpix, video_grid_thw=vgrid[None] if vgrid.ndim == 1 else vgrid,
                                   **({"second_per_grid_ts": vsec.data[None]} if vsec is not None else {}))
        venc = torch.cat(list(venc))
        hvis = hm.model.get_video_features(et["pixel_values_videos"], et["video_grid_thw"])
        hvis = torch.cat(list(hvis.pooler_output if hasattr(hvis, "pooler_output") else hvis))
        print(f"   vision embeddings {tuple(venc.shape)} vs {tuple(hvis.shape)}: max |diff| {float((venc - hvis).abs().max()):.3e} (scale {float(hvis.abs().max()):.2f})")
        ids_t = torch.tensor(vids)
        emb = vm.embed_input_ids(ids_t)
        mask = ids_t == cfg.model_config.hf_config.video_token_id
        emb[mask] = venc
        vl = vm.compute_logits(vm(None, vpos, inputs_embeds=emb))
        hl = hm(input_ids=torch.tensor([hids]), pixel_values_videos=et["pixel_values_videos"],
                video_grid_thw=et["video_grid_thw"], mm_token_type_ids=mmt, **({"second_per_grid_ts": hkw["second_per_grid_ts"]} if "second_per_grid_ts" in hkw else {})).logits[0]
        V = hl.shape[-1]
        print(f"   last-token logits max |diff| {float((vl[-1, :V] - hl[-1]).abs().max()):.3e}; all-token argmax agree {float((vl[:, :V].argmax(-1) == hl.argmax(-1)).float().mean()):.3f}")
