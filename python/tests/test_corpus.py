"""Every file and rotation directory of the format corpus: read() gives shmlog-dump read --format json's
events key for key (and the checked-in output beside each file); open()'s Arrow stream (pyarrow, polars),
to_arrow(), to_parquet() and python -m shmlog export hold its records and markers value for value;
dataframe() and losses() hold them with the documented dtypes."""
import pathlib

import pytest

from conftest import corpus_inputs
from dumpcmp import Problems, check_arrow, check_frame, check_stream

INPUTS = [pytest.param(p, id="%s/%s" % (p.parent.name, p.name)) for p in corpus_inputs()]


@pytest.mark.parametrize("path", INPUTS)
def test_read_equals_dump_and_golden(dump: str, path: pathlib.Path) -> None:
    problems = Problems()
    golden = path.with_suffix(".read.json") if path.suffix == ".shlog" else path.parent / "rotation.read.json"
    print(check_stream(problems, dump, [str(path)], str(golden)))
    assert not problems, problems.report()


@pytest.mark.parametrize("path", INPUTS)
def test_arrow_stream_equals_dump(dump: str, path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    problems = Problems()
    print(check_arrow(problems, dump, [str(path)], str(tmp_path)))
    assert not problems, problems.report()


@pytest.mark.parametrize("path", INPUTS)
def test_dataframe_and_losses_equal_dump(dump: str, path: pathlib.Path) -> None:
    problems = Problems()
    print(check_frame(problems, dump, [str(path)]))
    assert not problems, problems.report()
