"""Run vLLM 0.26's Qwen2.5-VL pure-torch path on CPU: every CustomOp through forward_native, the paged
attention kernel replaced by causal SDPA over the whole sequence (what it computes for one prefill)."""
import torch
import build  # noqa: F401  (first: it puts vLLM on its CPU platform before any vLLM import)
from vllm.model_executor.custom_op import CustomOp
from vllm.model_executor.layers.attention.attention import Attention

CustomOp.forward = lambda self, *a, **k: self.forward_native(*a, **k)

def _sdpa_forward(self, query, key, value, output_shape=None, output_dtype=None):
    n = query.shape[0]
    q = query.view(n, self.num_heads, self.head_size).transpose(0, 1)
    k = key.view(n, self.num_kv_heads, self.head_size).transpose(0, 1)
    v = value.view(n, self.num_kv_heads, self.head_size_v).transpose(0, 1)
    rep = self.num_heads // self.num_kv_heads
    k, v = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.impl.scale)
    return out.transpose(0, 1).reshape(n, self.num_heads * self.head_size_v)

Attention.forward = _sdpa_forward

import vllm.model_executor.layers.linear as _lin
import vllm.model_executor.layers.utils as _lu
_lin.dispatch_unquantized_gemm = lambda: _lu.default_unquantized_gemm
import vllm.model_executor.layers.vocab_parallel_embedding as _vpe
_vpe.dispatch_unquantized_gemm = lambda: _lu.default_unquantized_gemm

