"""Text from articles made safe to print on a terminal.

A terminal obeys the control characters in what it prints: ESC sequences move the cursor, clear the
screen, set the window title (OSC 0/2) or make a live hyperlink (OSC 8); C1 controls (U+0080-U+009F)
do the same in terminals that read their 8-bit forms; bidi overrides and isolates (U+202A-U+202E,
U+2066-U+2069) reorder what follows, so that a file name reads as something it is not. File names,
titles, passages, URLs and the model's own output all come from files anyone may have written, so
everything the CLI prints passes through this module.

- `safe_text`: prose (an answer, a passage). ESC sequences are dropped whole, so an OSC-8 link leaves
  its visible text and nothing else; the remaining controls are dropped; newlines and tabs are kept.
- `one_line`: the same for a field shown on one line (a title): line breaks cannot forge output lines.
- `visible`: names that must be told apart (file names, paths, URLs, error messages): every control or
  bidi character is shown as an escape (`\\x1b`, `<U+202E>`), so `a\\x1b[2J.md` is what the user reads.
- `safe_json`: JSON output, with the characters a terminal acts on written as `\\uXXXX` (still the
  same JSON value to a program that reads it).
- `TerminalStream`: streamed tokens; holds back an ESC sequence split across two tokens so that it is
  dropped whole rather than printed half as text.

Hand-written (a few regular expressions after ECMA-48) rather than a package: the ANSI strippers on
PyPI remove colour codes (CSI) and sometimes OSC, not C1 controls, DCS/APC strings or bidi controls.
This module does not decide what is printed, only that printing it cannot act on the terminal.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

__all__ = ["safe_text", "one_line", "visible", "safe_json", "TerminalStream"]

# Control strings (OSC, DCS, SOS, PM, APC) run to BEL or ST; one that never ends is dropped to the end
# of its line at most: the rest of the text is inert once its introducer is gone.
_STRING_BODY = r"[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
ESC_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: cursor, erase, colours
    rf"|\x1b[\]PX^_]{_STRING_BODY}"  # OSC (titles, OSC-8 links, clipboard), DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]"  # the other escape sequences (charset, keypad, reset)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # the 8-bit CSI
    rf"|[\x90\x98\x9d\x9e\x9f]{_STRING_BODY}"  # the 8-bit string introducers
)
# Bidi embeddings, overrides and isolates, and the marks that steer them.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# C0 but for tab and newline, DEL, C1, bidi: what is left to drop once the sequences are gone
# (a carriage return too: it lets a line overwrite what was printed before it).
_PROSE_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI_CONTROLS}]")
# Zero-width joiners are format characters too, but emoji sequences need them and they steer nothing.
_JOINERS = "\u200c\u200d"
# What `safe_json` writes as \uXXXX: json.dumps escapes C0 itself, not DEL, C1 or bidi.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{BIDI_CONTROLS}\u2028\u2029]")
# An ESC sequence still open at the end of a streamed token is held back up to this many characters
# (an OSC-8 link carries a URL); longer, it is no sequence a terminal would wait for, and it is dropped.
MAX_HELD_SEQUENCE = 4096
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def safe_text(text: Any) -> str:
    """Prose to print: ESC sequences and control characters gone, newlines and tabs kept."""
    return _PROSE_CONTROL.sub("", ESC_SEQUENCE.sub("", str(text)))


def one_line(text: Any) -> str:
    """A field printed on one line: `safe_text` with every run of whitespace made one space."""
    return " ".join(safe_text(text).split())


def _is_hidden(ch: str) -> bool:
    """A character a terminal acts on, or that changes how its neighbours read without being seen."""
    if ch in _JOINERS:
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or ch in BIDI_CONTROLS


def _shown(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"<U+{code:04X}>"


def visible(text: Any) -> str:
    """A name to print as it is, with every control, format or bidi character shown as an escape."""
    return "".join(_shown(ch) if _is_hidden(ch) else ch for ch in str(text))


def safe_json(value: Any, **kwargs: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, ...)`, with DEL, C1 and bidi characters written as \\uXXXX."""
    text = json.dumps(value, ensure_ascii=False, **kwargs)
    # Only string contents can hold such characters (JSON's own syntax is ASCII), and \\uXXXX is
    # the same character to a JSON reader.
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


# The 8-bit introducers, read as their ESC forms when deciding whether a sequence is still open.
_C1_AS_ESC = {"\x9b": "\x1b[", "\x9d": "\x1b]", "\x90": "\x1bP", "\x98": "\x1bX", "\x9e": "\x1b^", "\x9f": "\x1b_"}


def _open_sequence(tail: str) -> bool:
    """True when `tail` (an ESC, then text holding no other ESC) could still become one sequence."""
    if len(tail) > MAX_HELD_SEQUENCE:
        return False
    if len(tail) == 1:
        return True
    kind = tail[1]
    if kind == "[":
        return re.fullmatch(r"\x1b\[[0-?]*[ -/]*", tail) is not None
    if kind in "]PX^_":
        return re.search(r"[\x07\x9c\n]", tail) is None
    return re.fullmatch(r"\x1b[ -/]+", tail) is not None


class TerminalStream:
    """`safe_text` over a stream of tokens: a sequence split across tokens is still dropped whole."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, text: str) -> str:
        """What can be printed now of the text so far."""
        text = self._held + text
        self._held = ""
        start = max(text.rfind(c) for c in "\x1b\x9b\x90\x98\x9d\x9e\x9f")
        if start >= 0 and _open_sequence(_C1_AS_ESC.get(text[start], "\x1b") + text[start + 1:]):
            text, self._held = text[:start], text[start:]
        return safe_text(text)

    def close(self) -> str:
        """The rest, at the end of the stream (an unfinished sequence is dropped)."""
        rest, self._held = self._held, ""
        return safe_text(rest)
