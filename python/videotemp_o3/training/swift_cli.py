"""ms-swift's command-line spellings that differ between the two releases we support.

The scripts (sft/sft.sh, rl/grpo.sh) pass ms-swift the same settings under ms-swift 3.10 (the
release's) and 4.x (today's); where 4.x renamed a flag, they ask this module for the installed
release's spelling::

    python -m videotemp_o3.training.swift_cli flag tuner_type     # --train_type (3.x) | --tuner_type (4.x)
    python -m videotemp_o3.training.swift_cli version             # e.g. 4.6.0

Only the installed distribution's metadata is read (ms-swift itself is not imported: a few ms
instead of seconds). The renames, each checked against both releases' argument classes by
tests/test_swift4.py:

=============  =================  ================
our name       ms-swift 3.x       ms-swift 4.x
=============  =================  ================
tuner_type     ``--train_type``   ``--tuner_type``
=============  =================  ================
"""

from __future__ import annotations

import sys
from importlib import metadata

FLAGS = {"tuner_type": {3: "--train_type", 4: "--tuner_type"}}


def swift_version() -> str:
    """The installed ms-swift's version; SystemExit with the fix when it is not installed."""
    try:
        return metadata.version("ms-swift")
    except metadata.PackageNotFoundError:
        raise SystemExit("ms-swift is not installed: pip install -e '.[train]' (ms-swift 3.10) "
                         "or '.[train-latest]' (ms-swift 4.x)") from None


def swift_major() -> int:
    return int(swift_version().split(".")[0])


def flag(name: str) -> str:
    """The installed ms-swift's spelling of the flag we call ``name``."""
    if name not in FLAGS:
        raise SystemExit(f"swift_cli: no flag named {name!r}; known: {', '.join(sorted(FLAGS))}")
    major = swift_major()
    spellings = FLAGS[name]
    if major < min(spellings):
        raise SystemExit(f"ms-swift {swift_version()} is older than the oldest supported (3.10)")
    return spellings[min(major, max(spellings))]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["version"] and len(args) == 1:
        print(swift_version())
        return 0
    if args[:1] == ["flag"] and len(args) == 2:
        print(flag(args[1]))
        return 0
    print("usage: python -m videotemp_o3.training.swift_cli version | flag NAME", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
