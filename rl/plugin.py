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


import videotemp_o3.training.swift_compat  # noqa: F401,E402  (the CPU shim; no-op on GPUs)
