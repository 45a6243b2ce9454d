#!/usr/bin/env python3
"""Checks NIST SP 1500-100 v2 JSON ElectionReports made by tally.

  check-nist-cdf.py --schema SCHEMA.json [--status STATUS] [--level LEVEL]
                    [--expect CONTEST/CHOICE=VOTES]... [--same-as FILE]
                    FILE...

Each FILE (`tallyctl export --format nist-cdf`, the gateway's
/v1/export/nist-cdf.json) must:
  - validate against SCHEMA (JSON Schema draft-04; Debian's
    python3-jsonschema; see schema_errors for how the VoteCounts of a
    station-level report are checked quickly);
  - have unique @id values, and every ...Id / ...Ids reference resolve to
    one (the schema names the referenced types but does not check them);
  - have the report Status STATUS (unofficial-partial, unofficial-complete)
    and, with --level, the Format and the reporting-unit tiers of that level
    (national: the country and the districts of district contests; region:
    + regions; district: + every district; station: + polling stations,
    "precinct-level");
  - add up: for every selection, the counts of the units composing a unit
    (ComposingGpUnitIds) sum to that unit's count (a station that has not
    reported has no count and adds 0);
  - with --expect CONTEST/CHOICE=VOTES: have VOTES as the country's count of
    that selection (CHOICE "against-all": the contest's "against all");
  - with --same-as FILE: equal FILE but for GeneratedDate; FILE must be
    among the files checked, and the others are then compared with it
    rather than checked again.
Prints one line per file; exits 0 when every check passes, 1 otherwise.
"""
import argparse
import json
import os
import sys

import jsonschema

COUNTRY = "gpu-national"
LEVELS = ("national", "region", "district", "station")


def references(node, path=""):
    """Yields (path, id) for every ...Id / ...Ids reference in `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("Ids") and isinstance(value, list):
                for item in value:
                    yield f"{path}.{key}", item
            elif key.endswith("Id") and key not in (
                    "VendorApplicationId",) and isinstance(value, str):
                yield f"{path}.{key}", value
            else:
                yield from references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from references(value, f"{path}[{index}]")


def identifiers(node, out):
    if isinstance(node, dict):
        if "@id" in node:
            out.append(node["@id"])
        for value in node.values():
            identifiers(value, out)
    elif isinstance(node, list):
        for value in node:
            identifiers(value, out)
    return out


def selection_id(contest, choice):
    if choice == "against-all":
        return f"sel-{contest}--against-all"
    return f"sel-{contest}-{choice}"


def split_vote_counts(report):
    """A copy of `report` with every VoteCounts array cut to its first item,
    and the items cut off, with their paths."""
    items = []

    def walk(node, path):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "VoteCounts" and isinstance(value, list):
                    out[key] = [walk(v, f"{path}/{key}/0") for v in value[:1]]
                    items.extend((f"{path}/{key}/{i}", v)
                                 for i, v in enumerate(value[1:], 1))
                else:
                    out[key] = walk(value, f"{path}/{key}")
            return out
        if isinstance(node, list):
            return [walk(v, f"{path}/{i}") for i, v in enumerate(node)]
        return node

    return walk(report, ""), items


def schema_errors(report, validator, vote_counts_validator):
    """The schema's verdict on `report`. The schema puts no constraint on a
    VoteCounts array beyond its items' definition, and that definition is
    the same in every selection type, so validating each array's first item
    in place and every other item against the VoteCounts definition alone
    is the same verdict as validating the whole document, without checking
    the items of a station-level report once per alternative of each
    selection's oneOf."""
    trimmed, items = split_vote_counts(report)
    errors = []
    for error in sorted(validator.iter_errors(trimmed), key=str)[:5]:
        where = "/".join(str(p) for p in error.absolute_path)
        errors.append(f"schema: /{where}: {error.message[:200]}")
    for path, item in items:
        for error in vote_counts_validator.iter_errors(item):
            errors.append(f"schema: {path}: {error.message[:200]}")
        if len(errors) >= 5:
            break
    return errors


def check(report, args, validator, vote_counts_validator):
    problems = schema_errors(report, validator, vote_counts_validator)
    if problems:
        return problems, {}

    ids = identifiers(report, [])
    seen = set()
    for identifier in ids:
        if identifier in seen:
            problems.append(f"duplicate @id {identifier}")
        seen.add(identifier)
    for path, target in references(report):
        if target not in seen:
            problems.append(f"{path} refers to missing @id {target}")
            if len(problems) > 5:
                break

    if args.status and report["Status"] != args.status:
        problems.append(f"Status {report['Status']}, expected {args.status}")

    units = {unit["@id"]: unit for unit in report.get("GpUnit", [])}
    kinds = {}
    for unit in units.values():
        kind = unit.get("OtherType", unit["Type"])
        kinds[kind] = kinds.get(kind, 0) + 1
    if args.level:
        depth = LEVELS.index(args.level)
        expected_format = "precinct-level" if depth == 3 else "summary-contest"
        if report["Format"] != expected_format:
            problems.append(
                f"Format {report['Format']} at level {args.level}")
        if kinds.get("country") != 1:
            problems.append("not exactly one country unit")
        if (kinds.get("region", 0) > 0) != (depth >= 1):
            problems.append(f"{kinds.get('region', 0)} region units at "
                            f"level {args.level}")
        if (kinds.get("precinct", 0) > 0) != (depth >= 3):
            problems.append(f"{kinds.get('precinct', 0)} station units at "
                            f"level {args.level}")

    # Counts per (selection, unit).
    counts = {}
    vote_counts = 0
    for election in report.get("Election", []):
        for contest in election.get("Contest", []):
            for selection in contest.get("ContestSelection", []):
                per_unit = counts.setdefault(selection["@id"], {})
                for count in selection.get("VoteCounts", []):
                    vote_counts += 1
                    if not float(count["Count"]).is_integer():
                        problems.append(f"{selection['@id']}: count "
                                        f"{count['Count']} is not whole")
                    if count["GpUnitId"] in per_unit:
                        problems.append(f"{selection['@id']}: two counts "
                                        f"for {count['GpUnitId']}")
                    per_unit[count["GpUnitId"]] = int(count["Count"])
    for selection, per_unit in counts.items():
        for unit_id, total in per_unit.items():
            parts = units.get(unit_id, {}).get("ComposingGpUnitIds", [])
            if not parts:
                continue
            summed = sum(per_unit.get(part, 0) for part in parts)
            if summed != total:
                problems.append(f"{selection}: the units of {unit_id} sum "
                                f"to {summed}, not {total}")
                break

    for expectation in args.expect:
        name, _, votes = expectation.partition("=")
        contest, _, choice = name.partition("/")
        got = counts.get(selection_id(contest, choice), {}).get(COUNTRY)
        if got != int(votes):
            problems.append(f"{name}: national count {got}, expected {votes}")

    summary = {"units": kinds, "vote_counts": vote_counts}
    return problems, summary


def without_date(report):
    report = dict(report)
    report.pop("GeneratedDate", None)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schema", required=True)
    parser.add_argument("--status",
                        choices=("unofficial-partial", "unofficial-complete"))
    parser.add_argument("--level", choices=LEVELS)
    parser.add_argument("--expect", action="append", default=[])
    parser.add_argument("--same-as")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft4Validator.check_schema(schema)
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.draft4_format_checker)
    vote_counts_validator = jsonschema.Draft4Validator(
        {"$ref": "#/definitions/ElectionResults.VoteCounts",
         "definitions": schema["definitions"]},
        format_checker=jsonschema.draft4_format_checker)
    reference = None
    if args.same_as:
        with open(args.same_as, encoding="utf-8") as f:
            reference = without_date(json.load(f))

    if args.same_as and args.same_as not in args.files:
        parser.error("--same-as FILE must also be one of the files checked")
    failed = False
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                report = json.load(f)
        except (OSError, ValueError) as error:
            print(f"FAIL {path}: {error}")
            failed = True
            continue
        size = os.path.getsize(path)
        if reference is not None and path != args.same_as:
            # Equal to the reference, which is checked itself: the same
            # verdict, without validating the same content twice.
            if without_date(report) != reference:
                print(f"FAIL {path}: differs from {args.same_as} (beyond "
                      "GeneratedDate)")
                failed = True
            else:
                print(f"ok {path}: {size} bytes, the same report as "
                      f"{args.same_as} but for GeneratedDate")
            continue
        problems, summary = check(report, args, validator,
                                  vote_counts_validator)
        if problems:
            failed = True
            print(f"FAIL {path}: " + "; ".join(problems[:8]))
        else:
            units = ", ".join(f"{n} {k}" for k, n in
                              sorted(summary["units"].items()))
            print(f"ok {path}: {report['Status']}, {report['Format']}, "
                  f"{size} bytes, units: {units}, "
                  f"{summary['vote_counts']} vote counts")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
