"""Write the VideoTemp-o3 release's wording as a prompt profile, from your own copy of its code.

    python scripts/release_prompt_profile.py PATH/TO/VideoTemp-o3 -o release_eval.json              # evaluation
    python scripts/release_prompt_profile.py PATH/TO/VideoTemp-o3 --for training -o release_train.json

The release words its instructions two ways, each time as three string constants —
``PREFIX_PROMPT`` (the instructions), ``CROP_SUCCESS_PROMPT`` and ``CROP_FAIL_PROMPT`` (the
feedback after a clip call that worked or failed):

- ``--for eval`` (default), from its ``eval/utils.py``, which every one of its benchmark scripts
  runs the model with: the instructions are the *system* message and the first user turn is
  the video and the question alone. Use this profile to evaluate the released checkpoint as the
  release does (``videotemp ask``, ``eval/run.py``).
- ``--for training``, from its ``rl/video_crop_plugin.py``: the instructions (ending in a lead-in
  to the question) are the start of the *first user turn* and there is no system prompt of its
  own (ms-swift's chat template inserts its default). Use this profile to build training data
  in the release's wording (``sft_data build``, ``rl_data build``, the RL environment).

This script reads the constants with Python's ``ast`` (nothing is imported or run) and maps the
release's behaviour onto the profile's keys:

========================  ======================================================================
key                       the release
========================  ======================================================================
``system``                eval: ``PREFIX_PROMPT``; training: empty
``first_turn_prefix``     eval: empty; training: ``PREFIX_PROMPT``, then the question
``clip_success_one``      the clip's video, then ``CROP_SUCCESS_PROMPT`` (training: a newline
                          after the ``<video>`` tag, as its scheduler writes it)
``clip_success_many``     one video per clip (training: each tag and a newline), then
                          ``CROP_SUCCESS_PROMPT``
``clip_failure``          what went wrong, then ``CROP_FAIL_PROMPT`` (the release prints its own
                          error messages there; the profile names the problem instead)
``no_action``             ``CROP_FAIL_PROMPT`` (training: the release puts a short error note
                          before it; eval: the release ends the conversation instead)
``final_answer``          empty: the release never asks for the final answer
========================  ======================================================================

The texts are written as :class:`string.Template` strings, so a ``$`` in them is doubled.
The result is checked by loading it with :meth:`videotemp_o3.protocol.PromptProfile.load`.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

SOURCES = {"eval": Path("eval") / "utils.py", "training": Path("rl") / "video_crop_plugin.py"}
CONSTANTS = ("PREFIX_PROMPT", "CROP_SUCCESS_PROMPT", "CROP_FAIL_PROMPT")


def read_constants(source: Path) -> dict[str, str]:
    """The module-level string constants ``CONSTANTS`` of one of the release's files."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id in CONSTANTS \
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found[node.targets[0].id] = node.value.value
    missing = [name for name in CONSTANTS if name not in found]
    if missing:
        raise ValueError(f"{source}: no string constant {', '.join(missing)} (is this the "
                         f"release's {' or '.join(str(p) for p in SOURCES.values())}?)")
    return found


def release_profile(constants: dict[str, str], side: str = "eval") -> dict[str, str]:
    """The profile (as :meth:`PromptProfile.load` reads it) for the release's constants of
    ``side`` ("eval" or "training")."""
    def literal(text: str) -> str:
        return text.replace("$", "$$")

    success, fail = literal(constants["CROP_SUCCESS_PROMPT"]), literal(constants["CROP_FAIL_PROMPT"])
    prefix = literal(constants["PREFIX_PROMPT"])
    # Evaluation: the feedback is a list of parts (the clips, then the text), joined by nothing;
    # training: the scheduler writes one "<video>\n" per clip before the text.
    after_video = "\n" if side == "training" else ""
    return {
        "name": f"release-{side}",
        "system": prefix if side == "eval" else "",
        "first_turn_prefix": "" if side == "eval" else prefix,
        "clip_success_one": "${video}" + after_video + success,
        "clip_success_many": "${clips}" + after_video + success,
        "clip_item": "${video}",
        "clip_separator": after_video,
        "clip_failure": "${problem}${detail}. " + fail,
        "no_action": fail,
        "final_answer": "",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("release", type=Path,
                   help="a checkout of the VideoTemp-o3 release, or the file itself")
    p.add_argument("--for", dest="side", choices=tuple(SOURCES), default="eval",
                   help="eval (default): the wording its evaluation runs the model with; training: "
                        "the wording of its training data and RL environment")
    p.add_argument("-o", "--output", type=Path, required=True, help="the profile file to write")
    a = p.parse_args(argv)
    source = a.release / SOURCES[a.side] if a.release.is_dir() else a.release
    if not source.is_file():
        print(f"error: {source} not found (give the release's checkout, or its "
              f"{SOURCES[a.side]} itself)", file=sys.stderr)
        return 2
    try:
        profile = release_profile(read_constants(source), a.side)
    except (ValueError, SyntaxError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(profile, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    from videotemp_o3.protocol import PromptProfile

    PromptProfile.load(a.output)  # what every consumer will do: fail here, not later
    print(f"wrote {a.output} ({a.side} wording) from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
