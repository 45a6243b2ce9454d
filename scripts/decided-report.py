#!/usr/bin/env python3
"""When each contest of the night became mathematically decided.

Reads every contest's own-scope seat allocation (`tallyctl results --json`:
SeatAllocation.decided, decided_revision, decided_winner_choice_id), then
the stored event of each decided revision (`tallyctl watch --from_revision
R-1 --max_events 1 --json`: its commit time and how many stations had
reported), and prints one line per contest, in the order they were decided:

  contest, decided at revision R (HH:MM:SS after polls closed, X% of its
  stations and Y% of all stations reported)

The night's clock is the simulator's "simulate: polls closed at TIME, speed
S" line (tallyctl simulate), given with --simulate_log: the time into the
night is (commit time - polls closed) x speed, i.e. simulated time.

Usage: decided-report.py --tallyctl PATH --definition DEF.json
         --simulate_log FILE -- TALLYCTL_FLAGS...
Exit status 1 when a contest is not decided at the end of a complete night.
"""
import argparse
import datetime
import json
import re
import subprocess
import sys


def parse_time(text):
    """RFC 3339 with up to nanoseconds ("2026-12-08T01:30:00.123456789Z")."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$",
                     text)
    if not match:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    base = datetime.datetime.fromisoformat(match.group(1))
    zone = match.group(3)
    offset = datetime.timedelta(0)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * datetime.timedelta(hours=int(zone[1:3]),
                                           minutes=int(zone[4:6]))
    fraction = float(match.group(2) or 0)
    return (base - offset).replace(tzinfo=datetime.timezone.utc).timestamp() \
        + fraction


def clock(seconds):
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def percent(part, whole):
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def tallyctl_json_lines(tallyctl, args):
    out = subprocess.run([tallyctl] + args, check=True, capture_output=True,
                         text=True, timeout=120).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tallyctl", required=True)
    parser.add_argument("--definition", required=True)
    parser.add_argument("--simulate_log", required=True)
    parser.add_argument("flags", nargs="*")
    options = parser.parse_args()

    with open(options.definition, encoding="utf-8") as f:
        definition = json.load(f)
    contests = {c["id"]: c for c in definition.get("contests", [])}
    polls_closed, speed = None, 1.0
    with open(options.simulate_log, encoding="utf-8") as f:
        for line in f:
            match = re.match(r"simulate: polls closed at (\S+), speed (\S+)",
                             line)
            if match:
                polls_closed = parse_time(match.group(1))
                speed = float(match.group(2))
                break

    results = json.loads(subprocess.run(
        [options.tallyctl, "results"] + options.flags + ["--json"],
        check=True, capture_output=True, text=True, timeout=120).stdout)
    rows = []
    undecided = []
    complete = True
    for result in results.get("results", []):
        allocation = result.get("allocation")
        if not allocation:
            continue
        totals = result.get("totals", {})
        if totals.get("stations_reported", 0) < totals.get("stations_expected", 0):
            complete = False
        contest_id = allocation["contest_id"]
        revision = int(allocation.get("decided_revision", 0))
        if not allocation.get("decided") or revision == 0:
            undecided.append((contest_id, allocation.get("seats_open", 0)))
            continue
        rows.append((revision, contest_id, allocation))

    events = {}
    for revision in sorted({r for r, _, _ in rows}):
        for message in tallyctl_json_lines(
                options.tallyctl,
                ["watch"] + options.flags +
                ["--from_revision", str(revision - 1), "--max_events", "1",
                 "--json"]):
            event = message.get("event")
            if event and int(event.get("revision", 0)) == revision:
                events[revision] = event
                break

    # The contest column as wide as the longest name: names are not cut.
    width = max([len("contest")] + [len(c.get("name", i))
                                     for i, c in contests.items()])
    print(f"{'contest':<{width}} {'decided at':>11}  {'into the night':>14}  "
          f"{'its stations':>12}  {'all stations':>12}  winner")
    early = 0
    for revision, contest_id, allocation in sorted(rows):
        contest = contests.get(contest_id, {})
        name = contest.get("name", contest_id)
        event = events.get(revision, {})
        own = next((t for t in event.get("totals", [])
                    if t.get("contest_id") == contest_id and
                    t.get("scope", {}).get("id", "") ==
                    contest.get("district_id", "")), {})
        progress = event.get("progress", {})
        if own.get("stations_reported", 0) < own.get("stations_expected", 0):
            early += 1
        when = "-"
        if polls_closed is not None and event.get("committed_at"):
            when = clock((parse_time(event["committed_at"]) - polls_closed) *
                         speed)
        winner_id = allocation.get("decided_winner_choice_id", "")
        winner = next((c.get("name", winner_id)
                       for c in contest.get("choices", [])
                       if c.get("id") == winner_id), winner_id)
        if not winner and contest.get("seats", 1) > 1:
            winner = ", ".join(
                f"{c['choice_id']} {c.get('seats', 0)}"
                for c in allocation.get("choices", []) if c.get("seats", 0))
        print(f"{name:<{width}} {'r' + str(revision):>11}  {when:>14}  "
              f"{percent(own.get('stations_reported', 0), own.get('stations_expected', 0)):>12}  "
              f"{percent(progress.get('stations_reported', 0), progress.get('stations_expected', 0)):>12}  "
              f"{winner}")
    for contest_id, open_seats in undecided:
        print(f"{contests.get(contest_id, {}).get('name', contest_id):<{width}} "
              f"{'not decided':>11}  seats still open: {open_seats}")
    print(f"{len(rows)} of {len(rows) + len(undecided)} contests decided; "
          f"{early} of them before all of their stations had reported")
    if complete and undecided:
        print("decided-report: contests not decided at the end of the night",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
