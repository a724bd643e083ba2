#!/usr/bin/env python3
"""Runs `faultline-inspect sse` over every fixture in every chunking mode and compares the
output with the fixture's .expected file. Usage: golden.py INSPECT FIXTURE_DIR [--update]"""
import pathlib
import subprocess
import sys

MODES = ["all", "bytes", "0", "1", "42", "4294967295"]


def run(inspect, fixture, mode):
    args = fixture.with_suffix(".args")
    extra = args.read_text().split() if args.exists() else []
    r = subprocess.run([inspect, "sse", "--chunks", mode, *extra, str(fixture)],
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit(f"{fixture.name} --chunks {mode}: exit {r.returncode}: {r.stderr!r}")
    return r.stdout


def main():
    inspect, folder = sys.argv[1], pathlib.Path(sys.argv[2])
    update = "--update" in sys.argv[3:]
    fixtures = sorted(folder.glob("*.sse"))
    if not fixtures:
        raise SystemExit(f"no fixtures in {folder}")
    failed = 0
    for fixture in fixtures:
        expected_path = fixture.with_suffix(".expected")
        if update:
            expected_path.write_bytes(run(inspect, fixture, "all"))
        expected = expected_path.read_bytes()
        for mode in MODES:
            got = run(inspect, fixture, mode)
            if got != expected:
                failed += 1
                print(f"FAIL {fixture.name} --chunks {mode}\n--- expected\n"
                      f"{expected.decode()}--- got\n{got.decode()}")
    print(f"{len(fixtures)} fixtures x {len(MODES)} modes, {failed} failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
