"""ms-swift 4.6's revert_runtime_names_to_checkpoint applied to the transformers-5 runtime names."""
import ast
from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLConfig
src = open(__import__('swift.rlhf_trainers.utils', fromlist=['x']).__file__).read()
ns = {'_cached_reverse_renamings': None, '_VLLM_CHECKPOINT_STYLE_PACKED_MOE_MODEL_TYPES': frozenset({'nemotron_h'}),
      'get_logger': lambda: __import__('logging').getLogger()}
for node in ast.parse(src).body:
    if isinstance(node, ast.FunctionDef) and node.name in {'_build_reverse_renamings', 'revert_runtime_names_to_checkpoint'}:
        exec(compile(ast.Module([node], []), 'swift/rlhf_trainers/utils.py', 'exec'), ns)
import sys
_m = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig.from_pretrained(sys.argv[1]))
_sd = {n: p.data for n, p in _m.named_parameters()}
reverted_names = dict(zip(_sd, ns['revert_runtime_names_to_checkpoint'](_m, _sd)))
