#!/usr/bin/env python3
"""Where the writer's log syncs wait: reads an strace of the service's fsync and fdatasync calls.

    strace -f --seccomp-bpf -ttt -T -y -e trace=fsync,fdatasync -o TRACE target/release/webhook-ingest
    # ...drive a write load (loadgen write), stop the service, then:
    scripts/sync-profile.py TRACE

Prints every kind of sync by file, then the log syncs (fdatasync of the messages file's log, made
after each group's commit) by which other syncs overlapped them in time: the checkpoints' syncs of
the log and the database, and the search file's. strace slows every traced call, so compare the
lines of one trace with each other, not with an untraced run. The log syncs are told from SQLite's
own by the call: the bundled SQLite syncs with fsync, so every fdatasync of the log is ours (with an
SQLite built with HAVE_FDATASYNC the two would be counted together). Only syncs are traced: a log
sync that overlaps no other sync may still share the disk with writes. A p99 is printed for 100
calls or more; for fewer, only the maximum says anything.
"""
import collections
import re
import sys

LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\d+\.\d+)\s+(.*)$")
DONE = re.compile(r"(fsync|fdatasync)\(\d+<([^>]*)>\)\s*=\s*-?\d+.*<([\d.]+)>")
BEGUN = re.compile(r"(fsync|fdatasync)\(\d+<([^>]*)> <unfinished")
RESUMED = re.compile(r"<\.\.\. (fsync|fdatasync) resumed>.*<([\d.]+)>")


def basename(path):
    return path.rsplit("/", 1)[-1]


def calls(path):
    """(call, file name, start, seconds) of every completed sync in the trace."""
    begun, out = {}, []
    with open(path) as f:
        for line in f:
            m = LINE.match(line.strip())
            if not m:
                continue
            tid, start, rest = m.group(1), float(m.group(2)), m.group(3)
            if d := DONE.match(rest):
                out.append((d.group(1), basename(d.group(2)), start, float(d.group(3))))
            elif b := BEGUN.match(rest):
                begun[tid] = (b.group(1), basename(b.group(2)), start)
            elif (r := RESUMED.match(rest)) and tid in begun:
                call, name, start = begun.pop(tid)
                out.append((call, name, start, float(r.group(2))))
    return out


def ms(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")


def p99(xs):
    return "%8.2f" % ms(xs, 0.99) if len(xs) >= 100 else "%8s" % "-"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sync-profile.py TRACE")
    all_calls = calls(sys.argv[1])
    if not all_calls:
        sys.exit("no fsync or fdatasync lines in the trace (strace needs -f -ttt -T -y)")
    by_file = collections.defaultdict(list)
    for call, name, _, secs in all_calls:
        by_file[(call, name)].append(secs)
    print("%-10s %-24s %7s %8s %8s %8s" % ("call", "file", "n", "p50 ms", "p99 ms", "max ms"))
    for (call, name), v in sorted(by_file.items(), key=lambda kv: -len(kv[1])):
        print("%-10s %-24s %7d %8.2f %s %8.1f" % (call, name, len(v), ms(v, 0.5), p99(v), max(v) * 1000))

    def is_log(c):
        return c[0] == "fdatasync" and c[1].endswith("-wal") and not c[1].endswith("-search-wal")

    logs = [c for c in all_calls if is_log(c)]
    others = [c for c in all_calls if not is_log(c)]
    overlapped = collections.defaultdict(list)
    for _, _, start, secs in logs:
        end = start + secs
        hit = sorted({o[1] for o in others if o[2] < end and o[2] + o[3] > start})
        overlapped[" + ".join(hit) or "nothing"].append(secs)
    print("\nlog syncs overlapping %-34s %7s %8s %8s %8s" % ("", "n", "p50 ms", "p99 ms", "max ms"))
    for k, v in sorted(overlapped.items(), key=lambda kv: -len(kv[1])):
        print("  %-54s %7d %8.2f %s %8.1f" % (k, len(v), ms(v, 0.5), p99(v), max(v) * 1000))


if __name__ == "__main__":
    main()
