"""Write the VideoTemp-o3 release's wording as a prompt profile, from your own copy of its code.

    python scripts/release_prompt_profile.py PATH/TO/VideoTemp-o3 -o release_profile.json

The release's texts live in its ``rl/video_crop_plugin.py`` as three string constants — the
instructions put before the question in the first user turn (``PREFIX_PROMPT``) and the
feedback after a clip call that worked or failed (``CROP_SUCCESS_PROMPT``,
``CROP_FAIL_PROMPT``). This script reads them from the file with Python's ``ast`` (nothing is
imported or run) and maps the release's behaviour onto the profile's keys:

========================  ======================================================================
key                       the release
========================  ======================================================================
``system``                empty: no system prompt of its own (ms-swift inserts the chat
                          template's default)
``first_turn_prefix``     ``PREFIX_PROMPT``, then the question
``clip_success_one``      the clip's ``<video>`` tag, a newline, ``CROP_SUCCESS_PROMPT``
``clip_success_many``     one ``<video>`` tag and a newline per clip, ``CROP_SUCCESS_PROMPT``
``clip_failure``          what went wrong, then ``CROP_FAIL_PROMPT`` (the release prints its own
                          Python error list there; the profile names the problem instead)
``no_action``             ``CROP_FAIL_PROMPT`` (the release puts a short error note before it)
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

PLUGIN = Path("rl") / "video_crop_plugin.py"
CONSTANTS = ("PREFIX_PROMPT", "CROP_SUCCESS_PROMPT", "CROP_FAIL_PROMPT")


def read_constants(plugin: Path) -> dict[str, str]:
    """The module-level string constants ``CONSTANTS`` of the release's plugin file."""
    tree = ast.parse(plugin.read_text(encoding="utf-8"), filename=str(plugin))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id in CONSTANTS \
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found[node.targets[0].id] = node.value.value
    missing = [name for name in CONSTANTS if name not in found]
    if missing:
        raise ValueError(f"{plugin}: no string constant {', '.join(missing)} (is this the "
                         "release's rl/video_crop_plugin.py?)")
    return found


def release_profile(constants: dict[str, str]) -> dict[str, str]:
    """The profile (as :meth:`PromptProfile.load` reads it) for the release's constants."""
    def literal(text: str) -> str:
        return text.replace("$", "$$")

    success, fail = literal(constants["CROP_SUCCESS_PROMPT"]), literal(constants["CROP_FAIL_PROMPT"])
    return {
        "name": "release",
        "system": "",
        "first_turn_prefix": literal(constants["PREFIX_PROMPT"]),
        "clip_success_one": "${video}\n" + success,
        "clip_success_many": "${clips}\n" + success,
        "clip_item": "${video}",
        "clip_separator": "\n",
        "clip_failure": "${problem}${detail}. " + fail,
        "no_action": fail,
        "final_answer": "",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("release", type=Path, help="a checkout of the VideoTemp-o3 release")
    p.add_argument("-o", "--output", type=Path, required=True, help="the profile file to write")
    a = p.parse_args(argv)
    plugin = a.release / PLUGIN if a.release.is_dir() else a.release
    if not plugin.is_file():
        print(f"error: {plugin} not found (give the release's checkout, or its "
              f"{PLUGIN} itself)", file=sys.stderr)
        return 2
    try:
        profile = release_profile(read_constants(plugin))
    except (ValueError, SyntaxError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(profile, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    from videotemp_o3.protocol import PromptProfile

    PromptProfile.load(a.output)  # what every consumer will do: fail here, not later
    print(f"wrote {a.output} from {plugin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
