"""A compositor that renders only what shows: each widget's lines whose cells are not
already covered by a widget in front of them.

Textual (8.2) paints front to back, and the first strip to reach a cell wins, yet it
renders every line of every widget first: on the Cluster screen the screen, the panes'
container and the panes (all covered by their children but for the panes' borders) were
290 lines rendered for a 40-line frame. Here a widget renders, in runs of lines, only the
lines where a cell in its span is still empty; the rest is what Textual would have kept.
Relies on ``Compositor._render_chops``' private contract (Textual 8.2.8, pinned).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import cast

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip


def runs(lines: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Runs of consecutive numbers in ascending ``lines``, as (first, end) pairs."""
    start = previous = None
    for y in lines:
        if previous is not None and y == previous + 1:
            previous = y
            continue
        if start is not None and previous is not None:
            yield start, previous + 1
        start = previous = y
    if start is not None and previous is not None:
        yield start, previous + 1


def render_alike(
    render: Callable[[Region], list[Strip]], crop: Region, alike: range
) -> list[Strip]:
    """The lines of ``crop`` as ``render`` makes them, where the lines in ``alike`` are
    known to be the same: one of them is rendered, and the others share its strip (Textual
    styles every line on its own, ~0.1 ms each: a box's sides, an empty table's rows)."""
    lines = crop.line_range
    start, end = max(lines.start, alike.start), min(lines.stop, alike.stop)
    if end - start < 2:
        return render(crop)
    x, width = crop.x, crop.width
    strips: list[Strip] = []
    if lines.start < start:
        strips += render(Region(x, lines.start, width, start - lines.start))
    strips += render(Region(x, start, width, 1)) * (end - start)
    if end < lines.stop:
        strips += render(Region(x, end, width, lines.stop - end))
    return strips


class VisibleCompositor(Compositor):
    def _render_chops(
        self, crop: Region, is_rendered_line: Callable[[int], bool]
    ) -> Sequence[Mapping[int, Strip]]:
        cuts = self.cuts
        chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
        crop_overlaps = crop.overlaps
        for widget, (region, clip) in self.visible_widgets.items():  # front to back
            if crop and not crop_overlaps(clip):
                continue
            shown = region.intersection(clip)
            if not shown:
                continue
            first_cut, last_cut = shown.column_span
            open_lines = [
                y
                for y in shown.line_range
                if is_rendered_line(y)
                and any(chops[y].get(cut) is None for cut in cuts[y] if first_cut <= cut < last_cut)
            ]
            for start, end in runs(open_lines):
                strips = widget.render_lines(
                    Region(shown.x - region.x, start - region.y, shown.width, end - start)
                )
                for y, strip in zip(range(start, end), strips, strict=False):
                    line = chops[y]
                    final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
                    pieces = strip.divide([cut - shown.x for cut in final_cuts[1:]])
                    for cut, piece in zip(final_cuts, pieces, strict=False):
                        if line.get(cut) is None:
                            line[cut] = piece
        return cast("Sequence[Mapping[int, Strip]]", chops)
