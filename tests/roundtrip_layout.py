"""The record layout the round-trip generators (roundtrip_gen.py, roundtrip_fmt_gen.py) work out their cuts
from: the numbers read from the header under test, and the sharing of a record's room among its strings as
shmlog(3) documents it (an oracle of its own, not the header's arithmetic)."""
import re


def read_layout(hdr_path):
    """HEAD_PAYLOAD, CONT_PAYLOAD, MAX_ARGS, and ARG_BYTES: the argument bound of a process that sets none."""
    text = open(hdr_path).read()
    abi = {m.group(1): int(m.group(2))
           for m in re.finditer(r"#define SHMLOG_(HEAD_PAYLOAD|CONT_PAYLOAD|MAX_ARGS) (\d+)u", text)}
    m = re.search(r"#define SHMLOG_DEFAULT_ARG_BYTES \(SHMLOG_HEAD_PAYLOAD \+ (\d+)u \* SHMLOG_CONT_PAYLOAD\)", text)
    abi["ARG_BYTES"] = abi["HEAD_PAYLOAD"] + int(m.group(1)) * abi["CONT_PAYLOAD"]
    return abi


def share_out(want, room):
    """want: {argument: bytes its string would store}. The bytes each stores when the strings share room, and
    whether the record is cut: when they do not all fit, the strings that want no more than an equal share of
    what the others leave stay whole; the longer ones get equal shares, the earlier ones a byte more."""
    got = dict(want)
    if sum(want.values()) <= room:
        return got, False
    open_ = sorted(want)
    settled = True
    while settled and open_:
        share = room // len(open_)
        settled = False
        for i in list(open_):
            if want[i] <= share:
                room -= want[i]
                open_.remove(i)
                settled = True
    share, odd = divmod(room, len(open_)) if open_ else (0, 0)
    for k, i in enumerate(open_):
        got[i] = share + (1 if k < odd else 0)
    return got, True
