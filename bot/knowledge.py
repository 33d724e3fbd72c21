"""The FAQ the bot answers from right now: the packaged content plus staff edits.

Content and its matcher are swapped together as one immutable pair, so a question is always matched and
answered against the same version, and an edit takes effect for the next question without a restart.
"""

from __future__ import annotations

from faq.content import Content
from faq.matcher import Matcher


class Knowledge:
    def __init__(self, content: Content) -> None:
        self._current = (content, Matcher.build(content.entries))
        # The newest staff edit the content includes (0: the packaged content as shipped), so a process reloads
        # only when the database holds a newer one.
        self.edit_id = 0

    @property
    def content(self) -> Content:
        return self._current[0]

    @property
    def matcher(self) -> Matcher:
        return self._current[1]

    def replace(self, content: Content, edit_id: int) -> None:
        # Build first, then swap in one assignment: readers never see a half-built index.
        self._current = (content, Matcher.build(content.entries))
        self.edit_id = edit_id
