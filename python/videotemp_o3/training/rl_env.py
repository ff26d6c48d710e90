"""The GRPO environment without ms-swift: what the trainer's calls mean, in plain Python.

:mod:`videotemp_o3.training.swift_plugin` adapts this module to ms-swift's plug-in classes and is
the only module that imports them; everything here runs (and is tested) without ms-swift.

Rewards as ms-swift calls them
------------------------------
ms-swift 3.10.3 (``GRPOTrainer._compute_rewards_per_func``) calls each reward function as::

    reward_func(completions, trainer_state=…, [trajectory_inputs=…,] **rows_to_batched(inputs))

* ``completions[i]`` is the content of row i's *last* message only, so the whole conversation is
  read from ``messages[i]`` (after a multi-turn rollout it holds every turn).
* Every other column arrives as a list, one entry per row: the data set's (see
  :meth:`~videotemp_o3.training.rewards.GroundTruth.from_row`), ``rollout_infos`` (the
  environment's record; used as a fallback for e.g. ``duration``), ``request_id``.
* ``trajectory_inputs`` (server multi-turn mode): ``{request_id: [row, …]}``; a scheduler that
  returns one output per round gives several rows per request, and the one with the most
  assistant turns is the whole trajectory.

ms-swift turns a None reward into NaN; a row the rewards cannot score raises
:class:`~videotemp_o3.training.rewards.UnscorableRow` instead, naming the row — the data
validator (``python -m videotemp_o3.training.rl_data validate``, run by ``rl/grpo.sh``) finds
such rows, with ``file:line``, before training starts.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from videotemp_o3.training.rewards import (DEFAULT_CONFIG, REWARD_SETS, GroundTruth,
                                           RewardConfig, Trajectory, UnscorableRow)


def message_text(content: Any) -> str:
    """A message's content as text; multimodal content is a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


def assistant_turns(messages: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """The assistant texts of a conversation, in order (ms-swift's empty placeholders dropped)."""
    return [message_text(m["content"]) for m in messages or ()
            if m.get("role") == "assistant" and m.get("content")]


def trajectory_turns(completion: str, messages: Sequence[Mapping[str, Any]] | None,
                     request_id: str | None,
                     trajectory_inputs: Mapping[str, list[dict]] | None) -> list[str]:
    """The longest record of the conversation among the row and its request's rows."""
    candidates = [assistant_turns(messages)]
    if trajectory_inputs and request_id in trajectory_inputs:
        candidates += [assistant_turns(r.get("messages")) for r in trajectory_inputs[request_id]]
    turns = max(candidates, key=len)
    return turns or [completion]


def row_truth(row: Mapping[str, Any]) -> GroundTruth:
    """The ground truth of one row: its columns, with ``rollout_infos`` filling gaps."""
    info = row.get("rollout_infos")
    merged = dict(info) if isinstance(info, Mapping) else {}
    merged.update({k: v for k, v in row.items() if v is not None})  # the data row wins
    try:
        return GroundTruth.from_row(merged)
    except UnscorableRow as e:
        ident = next((f"{k} {row[k]!r}" for k in ("uid", "request_id") if row.get(k)), "a row")
        raise UnscorableRow(f"{ident}: {e} (check the data with `python -m "
                            "videotemp_o3.training.rl_data validate FILE`)") from None


def score_batch(reward_set: str, name: str, completions: Sequence[str], *,
                messages: Sequence[Any] | None = None,
                trajectory_inputs: Mapping[str, list[dict]] | None = None,
                config: RewardConfig = DEFAULT_CONFIG, **columns: Any) -> list[float]:
    """One reward of one set for a batch, given exactly what ms-swift passes (module docstring)."""
    fn = REWARD_SETS[reward_set][name]
    n = len(completions)
    batched = {k: v for k, v in columns.items() if isinstance(v, list) and len(v) == n}
    out = []
    for i in range(n):
        row = {k: v[i] for k, v in batched.items()}
        turns = trajectory_turns(completions[i], messages[i] if messages else None,
                                 row.get("request_id"), trajectory_inputs)
        out.append(fn(Trajectory(turns), row_truth(row), config))
    return out
