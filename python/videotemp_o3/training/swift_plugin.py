"""The ms-swift adapter: the only module of the package that imports ms-swift's plug-in classes,
for ms-swift 3.10 (the release's) and 4.x (today's) alike.

Importing it (``--external_plugins rl/plugin.py`` does) registers:

=========================  ======================================  =========================
name                       what                                    registry
=========================  ======================================  =========================
``videotemp_clips``        the multi-turn clip environment         ``multi_turns``
``acc_reward``             the release's accuracy (default set)    ``orms``
``iou_reward``             the release's penalty-aware IoU         ``orms``
``format_reward``          the release's format                    ``orms``
``videotemp_accuracy``     our variant of each                     ``orms``
``videotemp_iou``                                                  ``orms``
``videotemp_format``                                               ``orms``
=========================  ======================================  =========================

The environment and the calling convention of the rewards are in
:mod:`videotemp_o3.training.rl_env`, the reward definitions in :mod:`videotemp_o3.training.rewards`;
the classes here only bind them to ms-swift's base classes, so that supporting another ms-swift
means changing this module alone. What differs between the two releases:

==========================  ====================================  ====================================
                            ms-swift 3.10                         ms-swift 4.x
==========================  ====================================  ====================================
scheduler base, registry    ``swift.plugin.multi_turn``           ``swift.rollout.multi_turn``
ORM base, registry          ``swift.plugin.orm``                  ``swift.rewards.orm``
request/response classes    ``swift.llm.infer.protocol``,         ``swift.infer_engine.protocol``
                            ``swift.llm.template``
``load_file``               ``swift.llm.template.vision_utils``   ``swift.template.vision_utils``
ORM construction            the ``__init__`` parameters that      ``orms[name](args=<trainer args>)``
                            are trainer arguments, by name
assistant turns before the  text                                  the policy's token ids; the
last, after a rollout                                             scheduler records their text
                                                                  (``rl_env.TEXT_TURNS_KEY``)
==========================  ====================================  ====================================

Either way ``max_turns`` of the rewards follows ``--max_turns``; other constants: subclass with a
:class:`~videotemp_o3.training.rewards.RewardConfig` and register the subclass under a new name.
ms-swift logs each reward under its class name (``rewards/<Class>/mean``).

Importing this module also teaches ms-swift's ``load_file`` to read ``file://`` URIs
(:func:`_read_file_uris`): the rollout's videos travel as such URIs (see
:func:`videotemp_o3.training.rl_env.rollout_video_ref`), and the Qwen2.5-VL template's video
readers open every video through ``load_file``. Under ms-swift 4 with transformers 5 it also
makes the Qwen2.5-VL template hand vLLM each video's rate as ``video_metadata``
(:func:`_vllm_video_rates_as_metadata`; ms-swift 4.6's ``fps`` list fails there), and gives
transformers 5's Qwen2.5-VL the M-RoPE positions vLLM serves
(:func:`videotemp_o3.engines.qwen_positions.use_reference_positions`). Under both versions it
makes the Qwen2-VL templates take the pad ids from the checkpoint's tokenizer
(:func:`_media_ids_from_the_tokenizer`; the miniature's compact vocabulary) and drops
qwen-vl-utils' per-file clamp warning (:func:`videotemp_o3.training.swift_media.quiet_clamp_warnings`).
``sft/plugin.py`` imports this module for those patches.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from typing import Any

from swift.version import __version__ as SWIFT_VERSION

from videotemp_o3 import protocol
from videotemp_o3.engines.base import TRANSFORMERS_MAJOR, video_metadata
from videotemp_o3.engines.qwen_positions import use_reference_positions
from videotemp_o3.training import rl_env
from videotemp_o3.training.swift_media import quiet_clamp_warnings
from videotemp_o3.training.rewards import DEFAULT_CONFIG, RewardConfig
from videotemp_o3.training.rl_env import (SCHEDULER_NAME, TEXT_TURNS_KEY, ClipEnvConfig, ClipEnvironment,
                                          with_text_turns)

SWIFT_MAJOR = int(SWIFT_VERSION.split(".")[0])
"""The installed ms-swift's major version (3 or 4)."""

if SWIFT_MAJOR >= 4:
    from swift.infer_engine.protocol import (ChatCompletionResponse, ChatCompletionResponseChoice, ChatMessage,
                                             RequestConfig, RolloutInferRequest, RolloutOutput, UsageInfo)
    from swift.rewards.orm import ORM, orms
    from swift.rollout.multi_turn import MultiTurnScheduler, multi_turns

    _LOAD_FILE_HOMES: tuple[str, ...] = ("swift.template.vision_utils", "swift.template")
    _QWEN_TEMPLATES = "swift.template.templates.qwen"
else:
    from swift.llm.infer.protocol import (ChatCompletionResponse, ChatCompletionResponseChoice, ChatMessage,
                                          RequestConfig, RolloutOutput, UsageInfo)
    from swift.llm.template import RolloutInferRequest
    from swift.plugin.multi_turn import MultiTurnScheduler, multi_turns
    from swift.plugin.orm import ORM, orms

    _LOAD_FILE_HOMES = ("swift.llm.template.vision_utils", "swift.llm.template", "swift.llm")
    _QWEN_TEMPLATES = "swift.llm.template.template.qwen"

__all__ = ["SWIFT_MAJOR", "SWIFT_VERSION", "TEXT_TURNS_KEY", "with_text_turns", "VideoClipScheduler",
           "ChatCompletionResponse", "ChatCompletionResponseChoice", "ChatMessage", "RequestConfig",
           "RolloutInferRequest", "RolloutOutput", "UsageInfo", "REWARD_FUNCS", "ORM_NAMES"]

FILE_URI = "file://"


def _read_file_uris() -> None:
    """Make ms-swift's ``load_file`` read ``file://`` + path as the file at that path.

    Why: ms-swift's ``RolloutOutput`` inlines every entry of ``rollout_infos['videos']`` that is
    an existing file as the base64 of the whole file, so the rollout's videos travel as
    ``file://`` URIs (rl_env.rollout_video_ref). ms-swift's Qwen2.5-VL support then replaces
    qwen-vl-utils' decord reader (4.x: every reader but torchvision's first try) with one that
    first calls ``load_file(ele['video'])``, which takes a ``file://`` URI for a relative path
    ("No such file or directory: '<cwd>/file:/…'"); qwen-vl-utils then falls back to its
    torchvision reader, which newer torchvision releases no longer have (``read_video``).

    Scope: only strings that start with ``file://`` change, and they become the path after it
    (not percent-decoded, as rollout_video_ref writes it) — input that ``load_file`` could never
    read before; everything else reaches the original unchanged. Patched where the readers look
    the function up at call time (the ``vision_utils`` module and the packages that re-export
    it); idempotent.
    """
    for home in _LOAD_FILE_HOMES:
        module: Any = importlib.import_module(home)
        original = module.load_file
        if getattr(original, "reads_file_uris", False):
            continue

        @functools.wraps(original)
        def load_file(path, _original=original):
            if isinstance(path, str) and path.strip().startswith(FILE_URI):
                path = path.strip()[len(FILE_URI):]
            return _original(path)

        load_file.reads_file_uris = True  # type: ignore[attr-defined]  # marks the wrapper as ours
        module.load_file = load_file


_read_file_uris()


def rates_as_metadata(mm_processor_kwargs: dict, videos: list) -> dict:
    """``mm_processor_kwargs`` of a vLLM request with each video's rate moved from an ``fps``
    list into ``video_metadata`` (one dict per video; ``videos`` are qwen-vl-utils' T×C×H×W
    tensors), and ``do_sample_frames`` off (the frames are already the sampled ones).

    Why: ms-swift 4's Qwen2.5-VL template gives vLLM one ``fps`` per video, a list, which
    transformers 5's processor refuses (``Field 'fps' with value [2.0] doesn't match any type``;
    ms-swift issues 9357, 9582) — and 5.x would not read ``fps`` for the temporal spacing
    anyway, but each video's metadata, so the overview and the clips keep their own rates."""
    kwargs = {k: v for k, v in mm_processor_kwargs.items() if k != "fps"}
    kwargs["video_metadata"] = [video_metadata(v.shape[0], v.shape[2], v.shape[3], f)
                                for v, f in zip(videos, mm_processor_kwargs["fps"])]
    kwargs["do_sample_frames"] = False
    return kwargs


def _vllm_video_rates_as_metadata() -> None:
    """Under ms-swift 4 and transformers 5, make the Qwen2.5-VL template's vLLM-mode encoding
    pass each video's rate as :func:`rates_as_metadata` does (the rollout server's engine sends
    the encoding to vLLM as is). Idempotent; nothing changes under ms-swift 3.10 or
    transformers 4.x, where the ``fps`` list is what the processor reads."""
    if SWIFT_MAJOR < 4 or TRANSFORMERS_MAJOR < 5:
        return
    from swift.template.templates.qwen import Qwen2_5VLTemplate

    original = Qwen2_5VLTemplate._encode_truncated
    if getattr(original, "rates_as_metadata", False):
        return

    @functools.wraps(original)
    def _encode_truncated(self, inputs, _original=original):
        encoded = _original(self, inputs)
        kwargs, videos = encoded.get("mm_processor_kwargs"), encoded.get("videos") or []
        if self.mode == "vllm" and kwargs and isinstance(kwargs.get("fps"), list) and len(kwargs["fps"]) == len(videos):
            encoded["mm_processor_kwargs"] = rates_as_metadata(kwargs, videos)
        return encoded

    _encode_truncated.rates_as_metadata = True  # type: ignore[attr-defined]  # marks the wrapper as ours
    Qwen2_5VLTemplate._encode_truncated = _encode_truncated


def _media_ids_from_the_tokenizer() -> None:
    """Make ms-swift's Qwen2-VL-family templates take the image and video pad ids from the
    checkpoint's tokenizer where it has them elsewhere than Qwen2.5's (151655 / 151656).

    Why: the templates hard-code those ids as class attributes and look for them to expand each
    ``<|video_pad|>`` into its visual tokens; a checkpoint with another id layout — the
    miniature's compact vocabulary (:mod:`videotemp_o3.testing.tiny_model`, size ``compact``)
    — would be trained on one pad token per video instead of the video. transformers and vLLM
    read the ids from the checkpoint's config, so only the template needs telling. A Qwen2.5-VL
    checkpoint's tokenizer gives the hard-coded ids, and nothing changes. Idempotent."""
    template_cls: Any = importlib.import_module(_QWEN_TEMPLATES).Qwen2VLTemplate
    original = template_cls.init_processor
    if getattr(original, "media_ids_from_tokenizer", False):
        return

    def init_processor(self, processor, _original=original) -> None:
        _original(self, processor)
        if processor is None:
            return
        vocab = getattr(processor, "tokenizer", processor).get_vocab()
        for attr, token in (("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>")):
            if token in vocab and vocab[token] != getattr(self, attr):
                setattr(self, attr, vocab[token])

    init_processor.media_ids_from_tokenizer = True  # type: ignore[attr-defined]  # marks the wrapper as ours
    template_cls.init_processor = init_processor


_media_ids_from_the_tokenizer()
_vllm_video_rates_as_metadata()

# The trainer (transformers 5) must place tokens where the rollout server (vLLM) does.
use_reference_positions()
# Every pre-sampled overview read would log a warning (swift_media.quiet_clamp_warnings).
quiet_clamp_warnings()


class VideoClipScheduler(MultiTurnScheduler):
    """ms-swift's ``MultiTurnScheduler`` for the clip tool (:class:`rl_env.ClipEnvironment`).

    ``max_turns`` comes from ``--max_turns`` (default: the protocol's 3). The environment is
    configured from environment variables (:meth:`ClipEnvConfig.from_env`).
    """

    def __init__(self, infer_engine=None, max_turns: int | None = None, *args,
                 environment: ClipEnvironment | None = None, **kwargs):
        # ms-swift 4 passes tokenizer= and template= (colocate mode, no engine); its base keeps them.
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

    async def on_turn_end(self, infer_request, response_choice, current_turn: int) -> dict:
        """ms-swift 4's hook after every turn, the last included, while every assistant turn is
        still text: records the turn's text (``rollout_infos[TEXT_TURNS_KEY]``), which the
        rewards read back in place of the token ids the loop freezes it as. ms-swift 3.10 has
        no such hook and keeps the turns as text."""
        texts = self.environment.record_text_turn(infer_request.messages, infer_request.data_dict,
                                                  current_turn, response_choice.message.content or "")
        return {"rollout_infos": {TEXT_TURNS_KEY: texts}}


multi_turns[SCHEDULER_NAME] = VideoClipScheduler


class TrajectoryReward(ORM):
    """One reward of one set, scored on whole trajectories (set by each subclass)."""

    reward_set: str
    reward_name: str

    def __init__(self, args: Any = None, max_turns: int | None = None,
                 reward_config: RewardConfig | None = None, **kwargs: Any):
        # ms-swift 4: orms[name](args=<trainer arguments>); ms-swift 3.10: max_turns=--max_turns.
        if max_turns is None and args is not None:
            max_turns = getattr(args, "max_turns", None)
        if SWIFT_MAJOR >= 4:
            super().__init__(args)
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
