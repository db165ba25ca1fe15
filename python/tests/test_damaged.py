"""Damaged files: the records before the damage as the dump reads them, the dump's stderr lines as
error events on request and otherwise one DamagedInputWarning naming them (read(), to_arrow(),
dataframe()), Source.errors for open(); never an exception."""
import pytest

from dumpcmp import Problems, check_damaged


@pytest.mark.parametrize("kind", ["cut", "garbage", "noise"])
def test_damaged_file(dump: str, damaged: "dict[str, str]", kind: str) -> None:
    problems = Problems()
    print(check_damaged(problems, dump, damaged[kind]))
    assert not problems, problems.report()
