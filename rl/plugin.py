"""The file passed to ms-swift as ``--external_plugins rl/plugin.py`` (both ``swift rollout`` and
``swift rlhf``). Importing our modules registers, by name:

* the multi-turn scheduler ``videotemp_clips`` (``--multi_turn_scheduler videotemp_clips``), in
  ``swift.plugin.multi_turns``;
* the rewards ``videotemp_accuracy``, ``videotemp_iou`` (penalty-aware) and ``videotemp_format``
  (``--reward_funcs ...``), in ``swift.plugin.orm.orms``.

Everything lives in the installed package (``videotemp_o3.training``); this file only imports it,
plus one shim that a CPU run of ms-swift needs (below).
"""

import videotemp_o3.training.rl_scheduler  # noqa: F401  (registers videotemp_clips)
import videotemp_o3.training.swift_plugin_rewards  # noqa: F401  (registers the three ORMs)


# ms-swift 3.10.3 logs peak accelerator memory after every logging step through
# get_torch_device().max_memory_reserved(), which on a machine without an accelerator is torch.cpu
# — and torch 2.8 has no torch.cpu.max_memory_reserved, so a CPU run (USE_VLLM=false) crashes at
# its first log line. Supply the missing function, reporting 0 bytes, exactly as
# sft/cpu_compat.py does for the SFT path; on a GPU machine this changes nothing.
import torch  # noqa: E402

if not hasattr(torch.cpu, "max_memory_reserved"):
    torch.cpu.max_memory_reserved = lambda device=None: 0
