"""The file passed to ms-swift as ``--external_plugins rl/plugin.py`` (both ``swift rollout`` and
``swift rlhf``). Importing the adapter registers, by name:

* the multi-turn scheduler ``videotemp_clips`` (``--multi_turn_scheduler videotemp_clips``);
* the rewards: the release's ``acc_reward``, ``iou_reward``, ``format_reward`` (the default set)
  and our variant ``videotemp_accuracy``, ``videotemp_iou``, ``videotemp_format``
  (``--reward_funcs ...``).

Everything lives in the installed package (``videotemp_o3.training.swift_plugin``); this file
only imports it, plus one shim that a CPU run of ms-swift needs (below).
"""

import videotemp_o3.training.swift_plugin  # registers the scheduler and rewards


import videotemp_o3.training.swift_compat  # noqa: F401  (the CPU shim; no-op on GPUs)
