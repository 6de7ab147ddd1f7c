"""Text from a cluster shown as it is: never parsed as markup, no terminal control codes.

Names, labels, lock cookies, addresses, events, log lines and error texts come from
whoever can write to the cluster. Textual reads a ``str`` given to Static, Label,
OptionList, border titles and notifications as markup (``[b]`` ... ``[/]``), and a
stray ``[`` raised MarkupError and killed the console; an escape sequence written
raw to the terminal would change what the operator sees. Every such string goes
through ``plain()`` (for widgets) or ``clean()`` (for Rich ``Text`` and table cells).
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.content import Content

# C0 controls but tab and newline, DEL and the C1 controls (ESC, CSI, OSC...).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def clean(text: object) -> str:
    """``str(text)`` with control characters shown as ``\\x1b`` and the like."""
    value = str(text)
    return _CONTROL.sub(_escape, value) if _CONTROL.search(value) else value


def plain(text: object, style: str = "") -> Content:
    """Content that shows ``text`` literally (for Static, Label, Option, border titles)."""
    content = Content(clean(text))
    return content.stylize(style) if style else content


def plain_text(text: object, style: str = "") -> Text:
    """A Rich Text that shows ``text`` literally (Rich Text never parses markup)."""
    return Text(clean(text), style=style)
