#!/usr/bin/env python3
"""Counts test results for .ci/run.

usage: count.py BUILD_DIR...   (meson build dirs: their meson-logs/testlog.json and unit JUnit)
       count.py --junit FILE   (a Boost.Test JUnit report)
Prints "passed failed" for what it read. A meson test called 'unit' is counted by its JUnit
report's test cases; if that report is missing or the binary did not pass, one more failure.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET


def junit(path):
    passed = failed = 0
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return 0, 1
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is None:
            passed += 1
    return passed, failed


def meson_dir(build):
    passed = failed = 0
    log = os.path.join(build, "meson-logs", "testlog.json")
    try:
        lines = open(log).read().splitlines()
    except OSError:
        return 0, 1
    for line in lines:
        t = json.loads(line)
        ok = t["result"] in ("OK", "EXPECTEDFAIL")
        if t["name"] == "unit":
            p, f = junit(os.path.join(build, "tests", "unit-junit.xml"))
            passed += p
            failed += f + (0 if ok else 1 if f == 0 else 0)
        elif t["result"] != "SKIP":
            passed += ok
            failed += not ok
    return passed, failed


def main(argv):
    if len(argv) == 3 and argv[1] == "--junit":
        p, f = junit(argv[2])
    else:
        p = f = 0
        for b in argv[1:]:
            bp, bf = meson_dir(b)
            p, f = p + bp, f + bf
    print(p, f)


main(sys.argv)
