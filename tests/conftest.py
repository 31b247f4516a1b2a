"""Pytest options for the whole test suite: ``--runslow`` also runs the tests marked slow."""

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--runslow",
        action="store_true",
        default=False,
        help="also run the tests marked slow (benchmark smoke runs, examples), which take minutes",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test; run pytest with --runslow to include it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
