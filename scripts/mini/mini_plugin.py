"""ms-swift plug-in of the miniature reproduction (python/videotemp_o3/mini.py), passed with
``--external_plugins`` next to the project's own (rl/plugin.py for GRPO).

* ``iou_reward_no_penalty`` — the release's IoU reward (``iou_reward``: normalised IoU of the
  last call, paid when the answer is right) without its penalty (λ = 0): a right answer earns the
  normalised IoU however small, and nothing is subtracted. The "GRPO without the IoU penalty"
  ablation trains with it in place of ``iou_reward``.
* A time limit: when ``VIDEOTEMP_MINI_TIME_LIMIT_S`` is set, training stops after that many
  seconds of steps and saves, whatever the schedule — the miniature must fit a fixed GPU budget,
  and a run cut short says so in its log ("time limit reached").
"""

from __future__ import annotations

import dataclasses
import os
import time

from swift.plugin import callback as swift_callback
from swift.plugin.orm import orms
from transformers import TrainerCallback

try:  # GRPO runs import the rewards through rl/plugin.py; SFT runs need none of them.
    from videotemp_o3.training.rewards import DEFAULT_CONFIG
    from videotemp_o3.training.swift_plugin import IoUReward
except ImportError:  # pragma: no cover — a checkout without the training extras
    IoUReward = None


if IoUReward is not None:
    class IoURewardNoPenalty(IoUReward):
        """``iou_reward`` with λ = 0."""

        def __init__(self, args=None, max_turns: int | None = None, **kwargs):
            # By keyword: ms-swift 4 builds a reward as orms[name](args=...), 3.10 with max_turns.
            super().__init__(args=args, max_turns=max_turns,
                             reward_config=dataclasses.replace(DEFAULT_CONFIG, iou_penalty=0.0), **kwargs)

    orms["iou_reward_no_penalty"] = IoURewardNoPenalty


class TimeLimit(TrainerCallback):
    """Stops training and saves once ``limit_s`` seconds have passed since the first step."""

    def __init__(self, limit_s: float):
        self.limit_s = limit_s
        self.started: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.started is None:
            self.started = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        if self.started is not None and time.time() - self.started > self.limit_s:
            print(f"[mini] time limit reached: {self.limit_s:.0f} s at step {state.global_step} "
                  f"of {state.max_steps}; stopping and saving", flush=True)
            control.should_training_stop = True
            control.should_save = True
        return control


_limit = os.environ.get("VIDEOTEMP_MINI_TIME_LIMIT_S")
if _limit and not any(isinstance(c, TimeLimit) for c in swift_callback.extra_callbacks):
    swift_callback.extra_callbacks.append(TimeLimit(float(_limit)))
