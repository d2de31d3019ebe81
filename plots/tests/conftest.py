"""pytest set-up for the plot tests: import plots/*.py, copy fixtures to tmp.

The fixture folders under inputs/ are checked in (written by
make_fixtures.py); each test copies the one it needs into its tmp_path, so
charts and reports are never written into the source tree and the tests do
not depend on the current directory.
"""

import os
import shutil
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PLOTS_DIR = os.path.dirname(TESTS_DIR)
INPUTS = os.path.join(TESTS_DIR, "inputs")
sys.path.insert(0, PLOTS_DIR)


def copy_fixture(name: str, dest_parent) -> str:
    dest = os.path.join(str(dest_parent), name)
    shutil.copytree(os.path.join(INPUTS, name), dest)
    return dest


@pytest.fixture
def fixture_dir(tmp_path):
    """fixture_dir("quick") -> a fresh copy of inputs/quick in tmp_path."""
    return lambda name: copy_fixture(name, tmp_path)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """rendered("quick") -> (folder, Results, charts, out_dir): a copy of the
    fixture with its report written once and shared by the tests that only
    read it (drawing ~20 charts takes seconds)."""
    import report
    cache = {}

    def get(name):
        if name not in cache:
            folder = copy_fixture(name, tmp_path_factory.mktemp(name))
            cache[name] = (folder,) + tuple(report.write_report(folder))
        return cache[name]
    return get
