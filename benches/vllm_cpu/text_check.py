import sys
import torch
import fwd  # noqa: F401  (its import patches vLLM's custom ops and attention for CPU)
from build import build
from safetensors.torch import load_file
ckpt = sys.argv[1]
cfg, vm = build(ckpt)
vm.load_weights(list(load_file(f"{ckpt}/model.safetensors").items()))
vm.eval()
from transformers import Qwen2_5_VLForConditionalGeneration
hm = Qwen2_5_VLForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32, attn_implementation="sdpa").eval()
print("vLLM rotary:", type(vm.language_model.model.layers[0].self_attn.rotary_emb).__name__,
      vars(vm.language_model.model.layers[0].self_attn.rotary_emb).get("mrope_section"),
      "neox", vm.language_model.model.layers[0].self_attn.rotary_emb.is_neox_style,
      "scale", vm.language_model.model.layers[0].self_attn.attn.impl.scale)
g = torch.Generator().manual_seed(0)
ids = torch.randint(0, 151000, (40,), generator=g)
with torch.no_grad():
    for label, pos in [("text positions t=h=w", torch.arange(40).expand(3, -1).clone()),
                       ("distinct t/h/w positions", torch.stack([torch.arange(40), torch.arange(40) // 3, torch.arange(40) % 7 + 5]))]:
        vl = vm.compute_logits(vm(ids, pos))
        hl = hm(input_ids=ids[None], position_ids=pos[:, None, :]).logits[0]
        print(f"{label}: max |logit diff| {float((vl[:, :hl.shape[-1]] - hl).abs().max()):.3e} "
              f"(logit scale {float(hl.abs().max()):.2f}); argmax agree {float((vl[:, :hl.shape[-1]].argmax(-1) == hl.argmax(-1)).float().mean()):.3f}")
    pos = torch.stack([torch.arange(40), torch.arange(40) // 3, torch.arange(40) % 7 + 5])
    hl = hm(input_ids=ids[None], position_ids=pos[:, None, :]).logits[0]
    for label, p in [("vLLM with h positions +1 (sensitivity)", pos + torch.tensor([[0], [1], [0]])),
                     ("vLLM with all positions +7 (rope is relative: tiny diff expected)", pos + 7)]:
        vl = vm.compute_logits(vm(ids, p))[:, :hl.shape[-1]]
        print(f"{label}: max |logit diff| {float((vl - hl).abs().max()):.3e}")
