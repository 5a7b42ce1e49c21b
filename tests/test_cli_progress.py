"""The command line's progress bars: tqdm drawing the library's `progress(done, total)` calls.

A "state" below is one drawing of a bar: tqdm starts each with a carriage return and ends a finished bar with a
newline.
"""

from __future__ import annotations

import io
import re

from explorer.cli.progress import ProgressBars, count_bar, download_bar


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def states(text: str) -> list[str]:
    return [state.rstrip() for state in re.split(r"[\r\n]", text) if state.strip()]


def percent(state: str) -> int:
    found = re.search(r"(\d+)%\|", state)
    assert found, state
    return int(found.group(1))


def test_a_download_in_a_log_is_drawn_at_each_tenth() -> None:
    out = io.StringIO()
    progress = download_bar("tiny", out)
    for done in range(0, 2_000_001, 100_000):  # twenty calls
        progress(done, 2_000_000)
    drawn = states(out.getvalue())
    assert sorted({percent(state) for state in drawn}) == list(range(0, 101, 10))
    assert len(drawn) <= 12 and all(state.startswith("tiny:") for state in drawn)
    assert " 2.00M/2.00M " in drawn[-1] and out.getvalue().count("\n") == 1  # one bar, ended


def test_on_a_terminal_one_line_is_redrawn_and_ended_once() -> None:
    out = Tty()
    progress = download_bar(stream=out)
    progress(0, 1_000_000)
    progress(1_000_000, 1_000_000)
    progress(1_000_000, 1_000_000)  # a download reports its end twice: no second bar
    text = out.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    assert percent(states(text)[-1]) == 100 and " 1.00M/1.00M " in states(text)[-1]


def test_a_download_of_unknown_size_ends_at_its_size() -> None:
    out = io.StringIO()
    progress = download_bar(stream=out)
    for done in (0, 1_000, 3_000_000):
        progress(done, None)
    progress(3_000_000, 3_000_000)  # the library's last call: done == total
    assert " 3.00M/3.00M " in states(out.getvalue())[-1] and out.getvalue().count("\n") == 1


def test_each_label_gets_its_bar_and_lines_print_above_it() -> None:
    """As a sweep reports: one model after another, the second resumed at 4 of 10, a skipped image in between."""
    out = io.StringIO()
    bars = ProgressBars(unit="image", stream=out)
    bars.update(2, 10, "model-a")
    bars.write("skipped: broken.png")
    bars.update(10, 10, "model-a")
    bars.update(4, 10, "model-b")
    bars.update(10, 10, "model-b")
    lines = out.getvalue().split("\n")
    assert "skipped: broken.png" in states(out.getvalue())
    finished = [states(line)[-1] for line in lines if "100%" in line]
    assert [state.split(":")[0] for state in finished] == ["model-a", "model-b"]
    assert all(" 10/10 " in state for state in finished)


def test_a_count_bar_reaches_its_total() -> None:
    out = io.StringIO()
    progress = count_bar("image", stream=out)
    for done in range(1, 4):
        progress(done, 3)
    assert percent(states(out.getvalue())[-1]) == 100 and " 3/3 " in states(out.getvalue())[-1]
    assert "image/s" in out.getvalue()
