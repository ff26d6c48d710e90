"""The rewards of :mod:`videotemp_o3.training.rewards` as ms-swift 3.10 ORM plug-ins.

Importing this module registers, in ``swift.plugin.orm.orms``:

=====================  =======================================================
``videotemp_accuracy``  :func:`~videotemp_o3.training.rewards.accuracy_reward`
``videotemp_iou``       :func:`~videotemp_o3.training.rewards.iou_reward`
``videotemp_format``    :func:`~videotemp_o3.training.rewards.format_reward`
=====================  =======================================================

Use: ``swift rlhf --rlhf_type grpo --external_plugins <a file that imports this module>
--reward_funcs videotemp_accuracy videotemp_iou videotemp_format …``. This is the only module
of the package that imports ms-swift.

How ms-swift 3.10.3 calls an ORM (``GRPOTrainer._compute_rewards_per_func``)::

    reward_func(completions, trainer_state=…, [trajectory_inputs=…,] **rows_to_batched(inputs))

* ``completions[i]`` is the content of row i's *last* message only, so the wrappers read the
  whole conversation from ``messages[i]`` (after a multi-turn rollout it holds every turn).
* Every other column arrives as a list, one entry per row: the dataset's (``answer`` or
  ``solution``, ``task``, ``timestamp``, ``duration``, ``options``: see
  :meth:`GroundTruth.from_row`), ``rollout_infos`` (the scheduler's dict; used as a fallback
  for e.g. ``duration``), ``request_id``.
* ``trajectory_inputs`` (server multi-turn mode): ``{request_id: [row, …]}``; a scheduler that
  returns one output per round gives several rows per request, and the one with the most
  assistant turns is the whole trajectory.

The trainer builds each ORM with the ``__init__`` parameters that are also trainer arguments,
so ``max_turns`` follows ``--max_turns``. Other constants: subclass and pass a
:class:`RewardConfig`, and register the subclass under a new name.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

from swift.plugin.orm import ORM, orms

from videotemp_o3.training.rewards import (DEFAULT_CONFIG, GroundTruth, RewardConfig,
                                           Trajectory, accuracy_reward, format_reward,
                                           iou_reward)

RewardFn = Callable[[Trajectory, GroundTruth, RewardConfig], "float | None"]


def _text(content: Any) -> str:
    """Message content as text; multimodal content is a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


def assistant_turns(messages: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """The assistant texts of a conversation, in order (ms-swift's empty placeholders dropped)."""
    return [_text(m["content"]) for m in messages or ()
            if m.get("role") == "assistant" and m.get("content")]


class VideoTempReward(ORM):
    """Base of the three plug-ins: one trajectory and one ground truth per row."""

    reward: RewardFn  # set by each subclass

    def __init__(self, max_turns: int | None = None, reward_config: RewardConfig | None = None):
        cfg = reward_config or DEFAULT_CONFIG
        if max_turns is not None:
            cfg = dataclasses.replace(cfg, max_turns=max_turns)
        self.config = cfg

    def __call__(self, completions: list[str], messages: list | None = None,
                 trajectory_inputs: Mapping[str, list[dict]] | None = None,
                 **kwargs: Any) -> list[float | None]:
        n = len(completions)
        columns = {k: v for k, v in kwargs.items() if isinstance(v, list) and len(v) == n}
        out: list[float | None] = []
        for i in range(n):
            row = {k: v[i] for k, v in columns.items()}
            turns = self._turns(completions[i], messages[i] if messages else None,
                                row.get("request_id"), trajectory_inputs)
            out.append(self.reward(Trajectory(turns), self._truth(row), self.config))
        return out

    @staticmethod
    def _turns(completion: str, messages: Sequence[Mapping[str, Any]] | None,
               request_id: str | None,
               trajectory_inputs: Mapping[str, list[dict]] | None) -> list[str]:
        candidates = [assistant_turns(messages)]
        if trajectory_inputs and request_id in trajectory_inputs:
            candidates += [assistant_turns(r.get("messages"))
                           for r in trajectory_inputs[request_id]]
        turns = max(candidates, key=len)
        return turns or [completion]

    @staticmethod
    def _truth(row: Mapping[str, Any]) -> GroundTruth:
        info = row.get("rollout_infos")
        merged = dict(info) if isinstance(info, Mapping) else {}
        merged.update({k: v for k, v in row.items() if v is not None})  # the data row wins
        return GroundTruth.from_row(merged)


class VideoTempAccuracy(VideoTempReward):
    reward = staticmethod(accuracy_reward)


class VideoTempIoU(VideoTempReward):
    reward = staticmethod(iou_reward)


class VideoTempFormat(VideoTempReward):
    reward = staticmethod(format_reward)


ORM_NAMES = {
    "videotemp_accuracy": VideoTempAccuracy,
    "videotemp_iou": VideoTempIoU,
    "videotemp_format": VideoTempFormat,
}
orms.update(ORM_NAMES)
