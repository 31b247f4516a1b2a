"""The Python code blocks of each tutorial page run in order as one script, without an exception.

The blocks of a page share one namespace, as a reader pasting them into one
session would, and their own assertions check the results. Each page starts
from a fresh namespace.
"""

import pathlib
import re
import time

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"

PAGES = ["getting-started.md", "guide.md"]

# A fenced block that starts with ```python at the beginning of a line.
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)

# Each block takes a few seconds, compilation included. The limit is higher
# to leave room for a loaded machine.
SECONDS_PER_BLOCK = 30.0


def python_blocks(page: str) -> list[str]:
    return PYTHON_BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES)
def test_page_has_python_blocks(page):
    assert len(python_blocks(page)) >= 3


@pytest.mark.parametrize("page", PAGES)
def test_blocks_run_in_order(page):
    namespace = {"__name__": "docs_" + page.removesuffix(".md").replace("-", "_")}

    for index, source in enumerate(python_blocks(page)):
        first_line = source.splitlines()[0]
        started = time.perf_counter()
        try:
            exec(compile(source, f"{page} block {index}", "exec"), namespace)
        except Exception as error:
            message = f"{page} block {index}, starting {first_line!r}, raised {error!r}"
            raise AssertionError(message) from error
        seconds = time.perf_counter() - started
        assert seconds < SECONDS_PER_BLOCK, f"{page} block {index} took {seconds:.1f} s"
