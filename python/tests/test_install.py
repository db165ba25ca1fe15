"""The package as pip installed it: imported from the venv (not from the sources), loading the library
the build made, at the API version its header states; one version, which pyproject.toml reads from the package and meson's
project states too."""
import os
import pathlib
import re
import sys

import shmlog
from shmlog import _native


def test_installed_package_is_imported_from_the_venv() -> None:
    assert shmlog.__file__ is not None and shmlog.__file__.startswith(sys.prefix + os.sep), shmlog.__file__


def test_loads_the_library_at_the_headers_api_version() -> None:
    src = pathlib.Path(__file__).resolve().parents[1]
    header_dir = os.environ.get("SHMLOG_TEST_HEADER_DIR", str(src.parent / "read" / "include"))
    header = pathlib.Path(header_dir) / "shmlog_read.h"
    stated = re.search(r"#define SHMLOG_READ_VERSION (\d+)", header.read_text())
    assert stated is not None and _native.library().shmlog_read_version() == int(stated.group(1))


def test_one_version() -> None:
    """pyproject.toml takes its version from shmlog.__version__; meson.build (the C programs and
    libraries, the Debian packages) must name the same one."""
    src = pathlib.Path(__file__).resolve().parents[1]
    pyproject = (src / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'version = {attr = "shmlog.__version__"}' in pyproject
    meson = os.environ.get("SHMLOG_TEST_MESON_BUILD", str(src.parent / "meson.build"))
    project = re.search(r"project\([^)]*?version\s*:\s*'([^']+)'", pathlib.Path(meson).read_text())
    assert project is not None and project.group(1) == shmlog.__version__
