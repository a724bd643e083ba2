#!/usr/bin/env python3
"""Counts test results for .ci/run.

usage: count.py BUILD_DIR...   (meson build dirs: their meson-logs/testlog.json and JUnit reports)
       count.py --junit FILE   (a Boost.Test JUnit report)
Prints "passed failed" for what it read. A meson test NAME that writes a Boost.Test JUnit report
named NAME-junit.xml under the build's tests/ directory is counted by that report's test cases;
if the report is missing or the binary did not pass, one more failure. Every other meson test
counts once.
"""
import glob
import json
import os
import re
import sys


def junit(path):
    # Read as bytes and split on the elements: test output inside the report may hold bytes
    # that make the document as a whole unparsable XML.
    try:
        text = open(path, "rb").read().decode("utf-8", "replace")
    except OSError:
        return 0, 1
    passed = failed = 0
    for case in text.split("<testcase")[1:]:
        case = case.split("</testcase>")[0]
        if re.search(r"<(failure|error)\b", case):
            failed += 1
        elif not re.search(r"<skipped\b", case):
            passed += 1
    if passed + failed == 0:
        return 0, 1
    return passed, failed


def meson_dir(build):
    passed = failed = 0
    log = os.path.join(build, "meson-logs", "testlog.json")
    try:
        lines = open(log).read().splitlines()
    except OSError:
        return 0, 1
    reports = {os.path.basename(r)[: -len("-junit.xml")]: r
               for r in glob.glob(os.path.join(build, "tests", "**", "*-junit.xml"), recursive=True)}
    for line in lines:
        t = json.loads(line)
        ok = t["result"] in ("OK", "EXPECTEDFAIL")
        if t["name"] in reports or t["name"] == "unit":
            p, f = junit(reports.get(t["name"], os.path.join(build, "tests", "unit-junit.xml")))
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
