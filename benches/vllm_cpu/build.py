"""Build vLLM 0.26's Qwen2_5_VLForConditionalGeneration on CPU from a checkpoint dir."""
import os
import sys
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("VLLM_PLUGINS", "none")
import vllm.platforms as P
from vllm.platforms.cpu import CpuPlatform
P._current_platform = CpuPlatform()
from vllm.platforms import current_platform
print("platform:", type(current_platform).__name__, file=sys.stderr)
import torch

def _missing(name):
    def f(*a, **k):
        raise NotImplementedError(f"vllm custom op _C.{name} (no CUDA build here)")
    return f
# Kernels that layers look up in __init__; calling one is an error (only pure-torch paths run here).
for _name in ("silu_and_mul", "gelu_and_mul", "gelu_tanh_and_mul", "fatrelu_and_mul", "silu_and_mul_with_clamp",
              "rms_norm", "fused_add_rms_norm", "rotary_embedding", "gelu_new", "gelu_fast", "gelu_quick"):
    setattr(torch.ops._C, _name, _missing(_name))
from vllm.engine.arg_utils import EngineArgs
from vllm.config import set_current_vllm_config
from vllm.distributed import init_distributed_environment, initialize_model_parallel

def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(ckpt, dtype="float32", **kw):
    args = EngineArgs(model=ckpt, dtype=dtype, max_model_len=4096, enforce_eager=True, **kw)
    cfg = args.create_engine_config()
    ctx = set_current_vllm_config(cfg)
    ctx.__enter__()
    init_distributed_environment(world_size=1, rank=0, local_rank=0,
                                 distributed_init_method=f"tcp://127.0.0.1:{_free_port()}", backend="gloo")
    initialize_model_parallel(1, 1)
    from vllm.model_executor.model_loader.utils import get_model_architecture
    cls, arch = get_model_architecture(cfg.model_config)
    with torch.device("cpu"):
        torch.set_default_dtype(getattr(torch, dtype))
        model = cls(vllm_config=cfg, prefix="")
    return cfg, model
