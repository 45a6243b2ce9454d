#!/usr/bin/env python3
"""Compares a chamber composition with the expected one.

  tallyctl composition --json | scripts/check-composition.py EXPECTED.json

Both are tally.v1.ChamberComposition in JSON (proto field names; the
expected file, for example deploy/elections/kz-2023.composition.json, is the
official final composition in the form `tallyctl composition --json`
prints). The rows must match in order on party_id, self_nominated,
list_seats, district_seats and seats, and the composition read must be final
(not provisional) with every seat allocated. Names and colours are not
compared. Prints one line; exits 0 on a match, 1 otherwise.
"""
import json
import sys


def rows(composition):
    return [
        (
            row.get("party_id", ""),
            bool(row.get("self_nominated", False)),
            int(row.get("list_seats", 0)),
            int(row.get("district_seats", 0)),
            int(row.get("seats", 0)),
        )
        for row in composition.get("parties", [])
    ]


def text(composition):
    return ", ".join(
        f'{row.get("name") or row.get("party_id")} {row.get("seats", 0)}'
        f' ({row.get("list_seats", 0)} list + {row.get("district_seats", 0)}'
        " districts)"
        for row in composition.get("parties", [])
    )


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        expected = json.load(f)
    actual = json.load(sys.stdin)
    problems = []
    if actual.get("provisional", False):
        problems.append("the composition is still provisional")
    seats = int(actual.get("seats", 0))
    if int(actual.get("allocated_seats", 0)) != seats:
        problems.append(
            f'{actual.get("allocated_seats", 0)} of {seats} seats allocated')
    if "seats" in expected and int(expected["seats"]) != seats:
        problems.append(f'{seats} seats, expected {expected["seats"]}')
    if rows(actual) != rows(expected):
        problems.append(
            f"seats differ: got {text(actual)}; expected {text(expected)}")
    if problems:
        print("composition check FAILED: " + "; ".join(problems))
        return 1
    print(f"composition check: as expected ({sys.argv[1]}): {text(actual)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
