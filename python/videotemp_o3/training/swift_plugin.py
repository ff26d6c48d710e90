"""The ms-swift adapter: the only module of the package that imports ms-swift's plug-in classes.

Importing it (``--external_plugins rl/plugin.py`` does) registers:

=========================  ======================================  =========================
name                       what                                    registry
=========================  ======================================  =========================
``acc_reward``             the release's accuracy (default set)    ``swift.plugin.orm.orms``
``iou_reward``             the release's penalty-aware IoU         ``orms``
``format_reward``          the release's format                    ``orms``
``videotemp_accuracy``     our variant of each                     ``orms``
``videotemp_iou``                                                  ``orms``
``videotemp_format``                                               ``orms``
=========================  ======================================  =========================

The definitions are in :mod:`videotemp_o3.training.rewards` (the two sets) and the calling
convention in :mod:`videotemp_o3.training.rl_env`; the classes here only bind them to ms-swift's
base classes. ms-swift 3.10.3 builds each ORM with the ``__init__`` parameters that are also
trainer arguments, so ``max_turns`` follows ``--max_turns``; other constants: subclass with a
:class:`~videotemp_o3.training.rewards.RewardConfig` and register the subclass under a new name.
ms-swift logs each reward under its class name (``rewards/<Class>/mean``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from swift.plugin.orm import ORM, orms

from videotemp_o3.training import rl_env
from videotemp_o3.training.rewards import DEFAULT_CONFIG, RewardConfig


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
