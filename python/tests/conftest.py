"""What the package's tests read: the format corpus, the build's programs and files the real collector
writes during the session. tests/test_python.sh installs the package into a venv and runs these with
that venv's python, so the installed package is what they import; it sets:

  SHMLOG_DUMP, COLLECTOR, SHMLOG_SAMPLE   the build's programs (meson test's environment)
  SHMLOG_READ_LIBRARY                     the built libshmlog-read.so.1
  SHMLOG_TEST_CORPUS                      tests/corpus of the source tree
  SHMLOG_TEST_HEADER_DIR                  the folder of shmlog_read.h (the layout test; skipped without)
"""
import os
import pathlib
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Iterator, List

import pytest


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit("%s is not set: tests/test_python.sh sets it (see python/tests/conftest.py)" % name, 2)
    return value


def corpus_dir() -> pathlib.Path:
    return pathlib.Path(_env("SHMLOG_TEST_CORPUS"))


def corpus_inputs() -> List[pathlib.Path]:
    """Every file of the corpus and each rotation directory (two files read as one)."""
    root = corpus_dir()
    return sorted(root.glob("*/*.shlog")) + sorted(root.glob("*/rotation"))


@pytest.fixture(scope="session")
def dump() -> str:
    return _env("SHMLOG_DUMP")


@pytest.fixture(scope="session")
def corpus() -> pathlib.Path:
    return corpus_dir()


@pytest.fixture(scope="session")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> "dict[str, str]":
    """Damaged copies of v2-categories/processes.shlog: cut inside a frame, garbage after the last
    frame, and a file of noise with no shmlog header at all."""
    d = tmp_path_factory.mktemp("damaged")
    data = (corpus_dir() / "v2-categories" / "processes.shlog").read_bytes()
    files = {"cut": data[:len(data) * 2 // 3], "garbage": data + os.urandom(300), "noise": os.urandom(4096)}
    out = {}
    for name, content in files.items():
        (d / (name + ".shlog")).write_bytes(content)
        out[name] = str(d / (name + ".shlog"))
    return out


@dataclass
class Live:
    """The collector's output directory while (and after) it writes a producer's records."""
    seg: pathlib.Path
    out: pathlib.Path
    collector: "subprocess.Popen[bytes]"
    sample_output: str
    records: int  # the producer's calls, and its 'starting' line
    exit_status: "int | None" = None

    def first_file(self) -> str:
        return str(sorted(self.out.glob("*.shlog"))[0])


def _start_collector(tmp: pathlib.Path, seg: pathlib.Path, out: pathlib.Path) -> "subprocess.Popen[bytes]":
    """The collector, once it said READY=1 on its notify socket (as systemd hears it)."""
    sock_path = tmp / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(60)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path))
    with open(tmp / "collector.log", "wb") as log:
        proc = subprocess.Popen([_env("COLLECTOR"), "--dir", str(seg), "--out", str(out), "--max-delay-ms", "20"],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while b"READY=1" not in sock.recv(4096).split(b"\n"):
            pass
    except socket.timeout:
        proc.kill()
        proc.wait()
        pytest.fail("the collector did not say READY=1: %s" % (tmp / "collector.log").read_text())
    finally:
        sock.close()
    return proc


@pytest.fixture(scope="session")
def live_writing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A running collector that has written all of one sample producer's records (its segments
    removed after the exit marker); the collector still runs, its last file open."""
    tmp = tmp_path_factory.mktemp("live")
    seg, out = tmp / "seg", tmp / "out"
    seg.mkdir()
    proc = _start_collector(tmp, seg, out)
    count = 10000
    sample = subprocess.run([_env("SHMLOG_SAMPLE"), "--app", "pylive", "--count", str(count), "--threads", "2",
                             "--rate", "40000"], env=dict(os.environ, SHMLOG_DIR=str(seg)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    live = Live(seg=seg, out=out, collector=proc, sample_output=sample.stdout, records=count + 1)
    yield live
    if live.collector.poll() is None:
        live.collector.kill()
        live.collector.wait()


def segments_gone(seg: pathlib.Path, seconds: float = 10) -> bool:
    """Whether the collector removed the segments of the producers that exited, within seconds."""
    end = time.monotonic() + seconds
    while any(seg.iterdir()):
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture(scope="session")
def live(live_writing: Live) -> Live:
    """live_writing's files once the collector closed them: SIGTERM, and its exit status."""
    if live_writing.exit_status is None:
        segments_gone(live_writing.seg)
        live_writing.collector.send_signal(signal.SIGTERM)
        live_writing.exit_status = live_writing.collector.wait(timeout=60)
    return live_writing
