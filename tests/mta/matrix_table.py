#!/usr/bin/env python3
"""matrix_table.py - print the matrix's table: one row per scenario, one column per MTA.

usage: matrix_table.py TABLE MATRIX

TABLE holds matrix_check.py's lines "MTA SCENARIO right|wrong". Every line printed starts
with "# " (a comment in the test's output); skipped scenarios are listed with their reason.
"""
import json
import sys

MTAS = ("postfix", "exim", "sendmail")


def main():
    cells = {}
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            mta, sc, verdict = line.split()
            cells[(sc, mta)] = verdict
    with open(sys.argv[2], encoding="utf-8") as f:
        m = json.load(f)
    print("# %-28s %-8s %-8s %-8s" % (("scenario",) + MTAS))
    for sc in m["scenarios"]:
        print("# %-28s %-8s %-8s %-8s"
              % ((sc["name"],) + tuple(cells.get((sc["name"], x), "-") for x in MTAS)))
    for name, why in m["skip"]:
        print("# %-28s skipped: %s" % (name, why))
    for x in MTAS:
        n = sum(1 for (s, y), v in cells.items() if y == x and v == "right")
        run = sum(1 for (s, y), v in cells.items() if y == x and v != "skip")
        print("# %s: %d of %d scenarios right" % (x, n, run))


if __name__ == "__main__":
    main()
