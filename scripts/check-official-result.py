#!/usr/bin/env python3
"""Checks a final result against an official result file.

    tallyctl results --contest C --json | check-official-result.py RESULT.json

RESULT.json is a tally.v1.ResultTarget (deploy/elections/NAME.result.json).
The national totals of its contest must be final and carry exactly its votes,
against all, invalid and ballots issued; every published share, rounded half
up to as many decimals as the official percentage, must read as that
percentage; and when the file lists the official seats ("seats"), the final
allocation must be exactly those. Prints one line saying what matched, or
every difference on stderr and exits 1.
"""
import json
import sys
from decimal import ROUND_HALF_UP, Decimal, localcontext


def percent_like(share, like):
    """A share {numerator, denominator} in percent, written like `like`."""
    digits = len(like.split(".")[1]) if "." in like else 0
    with localcontext() as context:
        context.prec = 60
        value = Decimal(int(share["numerator"])) * 100 / Decimal(
            int(share["denominator"]))
        return str(value.quantize(Decimal(1).scaleb(-digits),
                                  rounding=ROUND_HALF_UP))


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as file:
        official = json.load(file)
    response = json.load(sys.stdin)
    contest = official["contest_id"]
    national = [
        entry for entry in response.get("results", [])
        if entry["totals"]["contest_id"] == contest
        and entry["totals"]["scope"].get("kind") == "SCOPE_KIND_NATIONAL"
    ]
    if len(national) != 1:
        print(f"{sys.argv[1]}: no national result of {contest}",
              file=sys.stderr)
        return 1
    totals = national[0]["totals"]
    allocation = national[0].get("allocation", {})
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: {got}, officially {want}")

    expect("stations reported", int(totals.get("stations_reported", 0)),
           int(totals.get("stations_expected", 0)))
    choices = {c["choice_id"]: c for c in totals.get("choices", [])}
    expect("choices", sorted(choices), sorted(official["votes"]))
    for choice, votes in official["votes"].items():
        got = choices.get(choice, {})
        expect(f"{choice} votes", int(got.get("votes", 0)), int(votes))
        if choice in official.get("percent", {}):
            want = official["percent"][choice]
            share = got.get("share")
            expect(f"{choice} percent",
                   percent_like(share, want) if share else None, want)
    expect("against all", int(totals.get("against_all", 0)),
           int(official.get("against_all", 0)))
    expect("invalid", int(totals.get("invalid", 0)),
           int(official.get("invalid", 0)))
    if int(official.get("ballots_issued", 0)):
        expect("ballots issued", int(totals.get("ballots_issued", 0)),
               int(official["ballots_issued"]))
    if official.get("against_all_percent"):
        want = official["against_all_percent"]
        share = totals.get("against_all_share")
        expect("against all percent",
               percent_like(share, want) if share else None, want)
    checked = "votes, percentages"
    if official.get("seats"):
        seats = {
            c["choice_id"]: int(c.get("seats", 0))
            for c in allocation.get("choices", []) if int(c.get("seats", 0))
        }
        expect("seats", seats,
               {k: int(v) for k, v in official["seats"].items()})
        expect("allocation", allocation.get("status"),
               "ALLOCATION_STATUS_ALLOCATED")
        expect("provisional", allocation.get("provisional", False), False)
        checked += ", seats"
    if problems:
        print(f"the final {contest} result differs from {sys.argv[1]}:",
              file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"official result reproduced ({checked}): {sys.argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
