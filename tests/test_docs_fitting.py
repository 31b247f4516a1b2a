"""The code blocks of docs/fitting.md run in order as one script, without an exception.

The blocks share one namespace, as a reader pasting them into one session
would, and their own assertions compare svensolve with scipy and with NIST's
certified values.
"""

import pathlib
import re
import time

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "fitting.md"

# A fenced block that starts with ```python at the beginning of a line.
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)

# Each block takes a few seconds, compilation included. The limit is higher
# to leave room for a loaded machine.
SECONDS_PER_BLOCK = 30.0


def python_blocks() -> list[str]:
    return PYTHON_BLOCK.findall(PAGE.read_text(encoding="utf-8"))


def test_page_has_python_blocks():
    assert len(python_blocks()) >= 10


def test_blocks_run_in_order():
    namespace = {"__name__": "docs_fitting"}

    for index, source in enumerate(python_blocks()):
        first_line = source.splitlines()[0]
        started = time.perf_counter()
        try:
            exec(compile(source, f"{PAGE.name} block {index}", "exec"), namespace)
        except Exception as error:
            message = f"block {index}, starting {first_line!r}, raised {error!r}"
            raise AssertionError(message) from error
        seconds = time.perf_counter() - started
        assert seconds < SECONDS_PER_BLOCK, f"block {index} took {seconds:.1f} s"
