"""Text the orchestrator did not write, made inert for whoever reads it.

A script's output is what the SSM agent of its target instance reports: whoever controls that instance writes
it, byte for byte (within SSM's own limit of 2,500 characters per plugin in ListCommandInvocations). It is
captured once (`orchestrator.steps.scripts`), then kept in the ledger and shown by the report, the CLI, the
timeline and whatever an operator pipes them into (`jq -r`, `less -R`, a log viewer). `inert` is applied where
it is captured, so every one of those readers gets text that only shows itself; each renderer still escapes its
own syntax (Rich markup, XML, JSON) because not everything it prints comes through here.

Replaced, one character for one, by U+FFFD (visible, and lengths stay those of the input):

- the C0 controls but tab and newline: ESC starts ANSI sequences (CSI colours and cursor moves, OSC 8
  hyperlinks, OSC 52 clipboard writes, window titles), a lone CR returns to the start of the line so that what
  follows overwrites it, BEL, BS, NUL ...;
- DEL and the C1 controls (U+0080 to U+009F: U+009B is an 8-bit CSI, U+009D an 8-bit OSC);
- lone UTF-16 surrogates (U+D800 to U+DFFF: not text; UTF-8 encoders and DynamoDB refuse them);
- the bidirectional embedding, override and isolate controls (U+202A to U+202E, U+2066 to U+2069), which
  reorder what is displayed ("Trojan Source", CVE-2021-42574).

The CR of a CRLF line end is dropped (Windows instances end lines so), which is the only change of length.
Rich markup (`[bold red]`, `[link=...]`) is ordinary text here: it means something only to a renderer that
parses markup, and the CLI escapes it there (`rich.markup.escape`, `rich.text.Text`).
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
#: What `inert` replaces (the same classes as the plan loader's CONTROL_CHARACTERS, less CR, plus bidi controls).
NOT_INERT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def inert(text: str) -> str:
    """`text` with every character a terminal or text viewer would act on replaced by U+FFFD (see the
    module's docstring); CRLF line ends become LF. Printable text, tab and newline are kept as they are."""
    return NOT_INERT.sub(REPLACEMENT, text.replace("\r\n", "\n"))
