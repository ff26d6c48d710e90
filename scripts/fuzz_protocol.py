"""Coverage-guided fuzzing (atheris / libFuzzer) of the protocol parsers and the GRPO rewards.

Each input is decoded as UTF-8 (bad bytes replaced) and split on the record separator into the
assistant turns of one trajectory; :func:`videotemp_o3.testing.reply_checks.check_input` runs every
parser on each turn and asserts their invariants, and on one input in four (by a checksum of the
input) the rewards on the whole trajectory. Anything that escapes — an exception, a
failed invariant, or an input slower than libFuzzer's ``-timeout`` — stops the run and leaves
the input under ``.fuzz/protocol/artifacts/``; copy it to ``tests/data/fuzz_protocol/`` so the
tests replay it.

Run through ``bash scripts/fuzz_protocol.sh`` (it writes the seed corpus and the dictionary and
passes the usual libFuzzer flags); arguments are libFuzzer's.
"""

from __future__ import annotations

import sys
import zlib

import atheris

# Coverage is collected from the code under test only, not from the checks.
with atheris.instrument_imports(include=["videotemp_o3.protocol", "videotemp_o3.segments",
                                         "videotemp_o3.training.rewards"]):
    from videotemp_o3 import protocol, segments  # noqa: F401
    from videotemp_o3.training import rewards  # noqa: F401
from videotemp_o3.testing import reply_checks


def test_one_input(data: bytes) -> None:
    # The rewards re-parse every turn several times; checking them on one input in four (chosen
    # by the input, so a run is reproducible) keeps the rate of the parser checks up.
    reply_checks.check_input(data.decode("utf-8", "replace"), rewards=zlib.crc32(data) % 4 == 0)


def write_seeds(directory: str) -> int:
    """The realistic replies of :func:`reply_checks.seed_replies`, one file each."""
    import hashlib
    from pathlib import Path

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    seeds = reply_checks.seed_replies()
    for seed in seeds:
        data = seed.encode("utf-8")
        (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return len(seeds)


DICTIONARY = ["<think>", "</think>", "<answer>", "</answer>", "<tool_call>", "</tool_call>",
              '"name"', '"arguments"', '"start_time"', '"end_time"', '"get_video_clip_frame"',
              "NaN", "Infinity", "-Infinity", "1e308", "answer is", "option", "choice", " or ",
              "seconds", "sec", "01:30", "1:02:03", "..", "\\u0022", "\x1e"]


def write_dictionary(path: str) -> None:
    """libFuzzer's -dict file: the protocol's tokens, which random mutation rarely spells."""
    def quote(token: str) -> str:
        return '"' + "".join(c if c.isalnum() or c in "<>/_:. -" else f"\\x{ord(c):02x}"
                             for c in token) + '"'
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(quote(t) for t in DICTIONARY) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--prepare":
        print(f"[fuzz] {write_seeds(sys.argv[2])} seed replies in {sys.argv[2]}")
        write_dictionary(sys.argv[3])
        sys.exit(0)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
