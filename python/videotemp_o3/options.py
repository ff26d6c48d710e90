"""Multiple-choice options: their letters, the checks on them, and reading them from data — the
one home of option handling (prompts, training data and benchmark readers all use it).

Options are plain texts in order; their letters are ``A``, ``B``, … (:data:`OPTION_LETTERS`).
Data may write an option already labelled (``"A. red"``, ``"(A) red"``), may put the options
inside the question as lettered lines, and may give the answer as a letter or as the text of
the right option; the functions here turn all of that into texts and a letter.
"""

from __future__ import annotations

import re
from typing import Literal, Sequence

OPTION_LETTERS = "ABCDEFGHIJ"
"""Option letters of multiple-choice questions: most benchmarks use A–D or A–F (MLVU); Video-MMMU
has up to ten options."""
DEFAULT_OPTIONS = 6
"""Options assumed when a caller does not say how many there are (letters A–F)."""
MIN_OPTIONS = 2

InlineStyle = Literal["dot", "paren"]

_LABEL = {
    "dot": re.compile(r"^\s*([A-Z])[.:]\s?(.*)$"),     # "A. text" (VideoTemp-Bench)
    "paren": re.compile(r"^\s*\(([A-Z])\)\s?(.*)$"),   # "(A) text" (LVBench)
}


def letters(n_options: int) -> str:
    """The letters of ``n_options`` options: ``letters(4) == "ABCD"``."""
    return OPTION_LETTERS[:n_options]


def options_problem(options: object) -> str | None:
    """Why ``options`` cannot be the options of a question, or None when they can: a list of
    2–10 non-empty strings."""
    if not isinstance(options, (list, tuple)) or not all(isinstance(o, str) for o in options):
        return "expected a list of option texts"
    if not MIN_OPTIONS <= len(options) <= len(OPTION_LETTERS):
        return f"expected {MIN_OPTIONS}–{len(OPTION_LETTERS)} options, got {len(options)}"
    if not all(o.strip() for o in options):
        return "every option must be a non-empty string"
    return None


def check_options(options: Sequence[str]) -> None:
    """Raise ``ValueError`` with :func:`options_problem`'s reason when the options are unusable."""
    problem = options_problem(list(options) if isinstance(options, tuple) else options)
    if problem is not None:
        raise ValueError(f"options of a multiple-choice question: {problem}")


def strip_label(option: str, letter: str) -> str:
    """An option text without the label of its own position (``"B. red"`` → ``"red"`` for B),
    so that a prompt does not print it twice; other text is kept (stripped)."""
    m = re.match(rf"\s*\(?{letter}\s*[.):]\s*", option)
    return option[m.end():] if m else option.strip()


def answer_letter(answer: object, options: Sequence[str]) -> str | None:
    """The letter an annotation's ``answer`` names: a letter (``"B"``, ``"b"``, ``"(B)"``,
    ``"B."``), or the text of one option (labels ignored); None when it names none of them."""
    if not isinstance(answer, str):
        return None
    valid = letters(len(options))
    m = re.fullmatch(r"\s*\(?([A-Za-z])\)?[.:]?\s*", answer)
    if m and m.group(1).upper() in valid:
        return m.group(1).upper()
    texts = [strip_label(o, letter).strip().lower() for o, letter in zip(options, valid)]
    wanted = answer.strip().lower()
    return valid[texts.index(wanted)] if wanted and wanted in texts else None


def split_inline_options(text: str, style: InlineStyle = "dot"
                         ) -> tuple[str, list[str], str | None]:
    """A question whose options are written inside it, one per line, as ``(stem, options,
    problem)``. The options are the last run of lines lettered A, B, C, … in order; only blank
    lines may follow them. A question without such lines comes back whole with no options and
    no problem; text after the options is a problem (reported, not guessed at)."""
    pattern = _LABEL[style]
    lines = text.split("\n")
    start = next((i for i in range(len(lines) - 1, -1, -1)
                  if (m := pattern.match(lines[i])) and m.group(1) == "A"), None)
    if start is None:
        return text.strip(), [], None
    options: list[str] = []
    end = start
    for i in range(start, len(lines)):
        m = pattern.match(lines[i])
        if not m or m.group(1) != chr(ord("A") + len(options)):
            break
        options.append(m.group(2).strip())
        end = i + 1
    problem = None
    if any(line.strip() for line in lines[end:]):
        problem = f"text after the options: {chr(10).join(lines[end:])!r:.80}"
    return "\n".join(lines[:start]).strip(), options, problem
