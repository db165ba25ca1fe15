"""Each filter of read() and open() (level, category, app, pid, since and until in every form, grep,
limit) selects exactly the records and markers shmlog-dump read's option selects, in order."""
import pathlib

import pytest

from dumpcmp import Problems, check_filters

CASES = ["v2-categories/processes.shlog", "v2-categories/losses.shlog", "v2/rotation"]


@pytest.mark.parametrize("name", CASES)
def test_filters_select_what_the_dump_selects(dump: str, corpus: pathlib.Path, name: str) -> None:
    problems = Problems()
    print(check_filters(problems, dump, [str(corpus / name)]))
    assert not problems, problems.report()
