"""Load the tiny checkpoint into vLLM 0.26's Qwen2.5-VL (CPU) two ways -- as the server does at start
(the safetensors names) and as ms-swift 4's weight sync sends them (runtime names reverted to checkpoint
names) -- and compare every vLLM parameter with the tensor it must hold."""
import sys
import torch
from build import build
from safetensors.torch import load_file
ckpt = sys.argv[1]
cfg, m = build(ckpt)
sd = load_file(f"{ckpt}/model.safetensors")
sd = {k: v.float() for k, v in sd.items()}

def expected(vname):
    n = vname.replace("language_model.model.", "model.")
    if ".qkv_proj." in n:
        return torch.cat([sd[n.replace("qkv_proj", p)] for p in ("q_proj", "k_proj", "v_proj")])
    if "gate_up_proj" in n:
        return torch.cat([sd[n.replace("gate_up_proj", p)] for p in ("gate_proj", "up_proj")])
    return sd[n]

def check(label, weights):
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(float("nan"))
    loaded = m.load_weights(weights)
    bad = []
    for n, p in m.named_parameters():
        e = expected(n)
        got = p.data[: e.shape[0]] if n.endswith("embed_tokens.weight") else p.data
        if got.shape != e.shape or not torch.equal(got, e):
            bad.append((n, tuple(got.shape), tuple(e.shape),
                        float((got - e).abs().nan_to_num(1e9).max()) if got.shape == e.shape else None))
    names = {n for n, _ in m.named_parameters()}
    print(f"{label}: {len(names)} vLLM params, {len(loaded)} reported loaded, mismatched: {len(bad)}")
    for b in bad:
        print("   ", b)
    print("    not reported loaded:", sorted(names - set(loaded)))

check("checkpoint names (server start)", list(sd.items()))
# ms-swift 4's sync: named_parameters of the transformers-5 model (runtime names), reverted to checkpoint names
sys.path.insert(0, __import__("os").path.dirname(__file__))
from revert import reverted_names
check("sync names (ms-swift 4 revert_runtime_names_to_checkpoint)", [(reverted_names[k], v.clone()) for k, v in
      [(k, sd[reverted_names[k]]) for k in reverted_names]])
