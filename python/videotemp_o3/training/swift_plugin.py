"""The ms-swift adapter: the only module of the package that imports ms-swift's plug-in classes.

Importing it (``--external_plugins rl/plugin.py`` does) registers:

=========================  ======================================  =========================
name                       what                                    registry
=========================  ======================================  =========================
``videotemp_clips``        the multi-turn clip environment         ``swift.plugin.multi_turns``
``acc_reward``             the release's accuracy (default set)    ``swift.plugin.orm.orms``
``iou_reward``             the release's penalty-aware IoU         ``orms``
``format_reward``          the release's format                    ``orms``
``videotemp_accuracy``     our variant of each                     ``orms``
``videotemp_iou``                                                  ``orms``
``videotemp_format``                                               ``orms``
=========================  ======================================  =========================

The environment and the calling convention of the rewards are in
:mod:`videotemp_o3.training.rl_env`, the reward definitions in :mod:`videotemp_o3.training.rewards`;
the classes here only bind them to ms-swift's base classes (ms-swift 3.10.3:
``swift.plugin.multi_turn.MultiTurnScheduler``, ``swift.plugin.orm.ORM``), so that supporting
another ms-swift means changing this module alone. ms-swift 3.10.3 builds each ORM with the ``__init__`` parameters that are also
trainer arguments, so ``max_turns`` follows ``--max_turns``; other constants: subclass with a
:class:`~videotemp_o3.training.rewards.RewardConfig` and register the subclass under a new name.
ms-swift logs each reward under its class name (``rewards/<Class>/mean``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from swift.plugin.multi_turn import MultiTurnScheduler, multi_turns
from swift.plugin.orm import ORM, orms

from videotemp_o3 import protocol
from videotemp_o3.training import rl_env
from videotemp_o3.training.rewards import DEFAULT_CONFIG, RewardConfig
from videotemp_o3.training.rl_env import SCHEDULER_NAME, ClipEnvConfig, ClipEnvironment


class VideoClipScheduler(MultiTurnScheduler):
    """ms-swift's ``MultiTurnScheduler`` for the clip tool (:class:`rl_env.ClipEnvironment`).

    ``max_turns`` comes from ``--max_turns`` (default: the protocol's 3). The environment is
    configured from environment variables (:meth:`ClipEnvConfig.from_env`).
    """

    def __init__(self, infer_engine=None, max_turns: int | None = None, *args,
                 environment: ClipEnvironment | None = None, **kwargs):
        max_turns = max_turns or protocol.DEFAULT_MAX_TURNS
        super().__init__(infer_engine, max_turns, *args, **kwargs)
        self.environment = environment or ClipEnvironment(ClipEnvConfig.from_env(max_turns))
        if self.environment.config.max_turns != max_turns:
            raise ValueError(f"the environment allows {self.environment.config.max_turns} turns "
                             f"but ms-swift was given --max_turns {max_turns}")

    def check_finished(self, infer_request, response_choice, current_turn: int) -> bool:
        # Base: finish_reason == "length" (a truncated turn is final) or the turn limit.
        if super().check_finished(infer_request, response_choice, current_turn):
            return True
        return self.environment.is_final(response_choice.message.content or "")

    def step(self, infer_request, response_choice, current_turn: int) -> dict:
        infos = self.environment.step(infer_request.messages, infer_request.videos,
                                      infer_request.data_dict, current_turn,
                                      response_choice.message.content or "")
        return {"infer_request": infer_request, "rollout_infos": infos}


multi_turns[SCHEDULER_NAME] = VideoClipScheduler


class TrajectoryReward(ORM):
    """One reward of one set, scored on whole trajectories (set by each subclass)."""

    reward_set: str
    reward_name: str

    def __init__(self, max_turns: int | None = None, reward_config: RewardConfig | None = None):
        cfg = reward_config or DEFAULT_CONFIG
        if max_turns is not None:
            cfg = dataclasses.replace(cfg, max_turns=max_turns)
        self.config = cfg

    def __call__(self, completions: list[str], **kwargs: Any) -> list[float]:
        kwargs.pop("trainer_state", None)
        return rl_env.score_batch(self.reward_set, self.reward_name, completions,
                                  config=self.config, **kwargs)


class AccuracyReward(TrajectoryReward):
    """The release's accuracy (``rewards.accuracy_reward``)."""
    reward_set, reward_name = "release", "accuracy"


class IoUReward(TrajectoryReward):
    """The release's penalty-aware IoU (``rewards.iou_reward``)."""
    reward_set, reward_name = "release", "iou"


class FormatReward(TrajectoryReward):
    """The release's format (``rewards.format_reward``)."""
    reward_set, reward_name = "release", "format"


class VideoTempAccuracy(TrajectoryReward):
    """Our accuracy (``rewards.videotemp_accuracy_reward``)."""
    reward_set, reward_name = "videotemp", "accuracy"


class VideoTempIoU(TrajectoryReward):
    """Our penalty-aware IoU (``rewards.videotemp_iou_reward``)."""
    reward_set, reward_name = "videotemp", "iou"


class VideoTempFormat(TrajectoryReward):
    """Our format (``rewards.videotemp_format_reward``)."""
    reward_set, reward_name = "videotemp", "format"


REWARD_FUNCS = {
    "release": ("acc_reward", "iou_reward", "format_reward"),
    "videotemp": ("videotemp_accuracy", "videotemp_iou", "videotemp_format"),
}
"""``--reward_funcs`` of each set, in the order accuracy, IoU, format."""

ORM_NAMES = {
    "acc_reward": AccuracyReward,
    "iou_reward": IoUReward,
    "format_reward": FormatReward,
    "videotemp_accuracy": VideoTempAccuracy,
    "videotemp_iou": VideoTempIoU,
    "videotemp_format": VideoTempFormat,
}
orms.update(ORM_NAMES)
