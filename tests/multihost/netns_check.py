#!/usr/bin/env python3
"""Helpers of tests/multihost/netns_test.sh, one job per subcommand.

  netns_check.py smallest N DEFINITION
      the N regions with the fewest stations, one id a line
  netns_check.py slice DEFINITION OUT REGION...
      the definition cut down to REGIONs: their districts, stations and
      contests (national contests stay), so "complete" means those regions
  netns_check.py status --proto DIR --stubs DIR --tls_ca PEM --token_file F
                       ADDRESS
      Collector.GetCollectorStatus of ADDRESS as one JSON line, over TLS
      verified with the CA in PEM, with the station client token of F as
      "authorization: Bearer <token>" metadata
  netns_check.py metrics URL SERIES...
      one scrape of a Prometheus text endpoint (an admin /metrics): the
      value of each SERIES (NAME or NAME{label="value",...}, matching
      exactly one sample), one a line
  netns_check.py healthz URL
      exit 0 when GET URL answers 200
  netns_check.py scope --results RESULTS.json CONTEST SCOPE FIELD
      one field of one (contest, scope) totals of `tallyctl results --json`
  netns_check.py expect --definition DEF --results RESULTS.json FILE...
      compares every totals of `tallyctl results --all_scopes --json` with
      an independent sum over the last version of each (contest, station)
      in the protocol FILEs (JSON lines as written by `tallyctl simulate
      --write_dir`); exit 1 listing every difference
  netns_check.py watch --results RESULTS.json --watch WATCH.jsonl
      the final totals of a `tallyctl watch --json` stream equal the
      aggregator's

Counts in protobuf JSON are strings and zero fields may be left out, so
every number is read with num().
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request


def num(value):
    return int(value) if value not in (None, "") else 0


def load(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def scope_key(scope):
    """national, region/<id> or district/<id>, as the tallyctl flags."""
    scope = scope or {}
    kind = scope.get("kind", "SCOPE_KIND_NATIONAL")
    if kind in ("SCOPE_KIND_NATIONAL", "SCOPE_KIND_UNSPECIFIED"):
        return "national"
    return "%s/%s" % (kind[len("SCOPE_KIND_"):].lower(), scope.get("id", ""))


def totals_fields(totals):
    """The compared figures of one Totals message."""
    return {
        "votes": {c["choice_id"]: num(c.get("votes"))
                  for c in totals.get("choices", []) if num(c.get("votes"))},
        "against_all": num(totals.get("against_all")),
        "invalid": num(totals.get("invalid")),
        "ballots_cast": num(totals.get("ballots_cast")),
        "ballots_issued": num(totals.get("ballots_issued")),
        "registered_voters": num(totals.get("registered_voters")),
        "stations_reported": num(totals.get("stations_reported")),
        "stations_expected": num(totals.get("stations_expected")),
        "stations_with_anomalies": num(totals.get("stations_with_anomalies")),
    }


def results_totals(path):
    """(contest, scope) -> Totals of a GetResultsResponse JSON file."""
    found = {}
    for result in load(path).get("results", []):
        totals = result.get("totals", {})
        found[(totals.get("contest_id") or result.get("contest_id"),
               scope_key(totals.get("scope")))] = totals
    return found


def cmd_smallest(args):
    definition = load(args.definition)
    count = collections.Counter(s["region_id"] for s in definition["stations"])
    regions = sorted((count[r["id"]], r["id"]) for r in definition["regions"])
    for _, region in regions[:args.n]:
        print(region)


def cmd_slice(args):
    definition = load(args.definition)
    keep = set(args.regions)
    missing = keep - {r["id"] for r in definition["regions"]}
    if missing:
        sys.exit("unknown regions: %s" % ", ".join(sorted(missing)))
    definition["regions"] = [
        r for r in definition["regions"] if r["id"] in keep]
    definition["districts"] = [
        d for d in definition["districts"] if d["region_id"] in keep]
    districts = {d["id"] for d in definition["districts"]}
    definition["stations"] = [
        s for s in definition["stations"] if s["region_id"] in keep]
    definition["contests"] = [
        c for c in definition["contests"]
        if not c.get("district_id") or c["district_id"] in districts]
    definition["id"] += "-slice"
    definition["name"] += " (%s)" % ", ".join(sorted(keep))
    with open(args.out, "w", encoding="utf-8") as file:
        json.dump(definition, file, indent=1)


def cmd_status(args):
    stubs = args.stubs
    if not os.path.exists(os.path.join(stubs, "tally", "v1",
                                       "collector_pb2_grpc.py")):
        os.makedirs(stubs, exist_ok=True)
        sources = sorted(
            os.path.join("tally", "v1", name)
            for name in os.listdir(os.path.join(args.proto, "tally", "v1"))
            if name.endswith(".proto"))
        subprocess.run(
            ["protoc", "--python_out=" + stubs, "--grpc_python_out=" + stubs,
             "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
             "-I", args.proto] + sources, check=True, timeout=60)
        for package in ("tally", os.path.join("tally", "v1")):
            open(os.path.join(stubs, package, "__init__.py"), "a").close()
    sys.path.insert(0, stubs)
    import grpc  # pylint: disable=import-outside-toplevel
    from google.protobuf import json_format  # pylint: disable=import-outside-toplevel
    from tally.v1 import collector_pb2, collector_pb2_grpc  # pylint: disable=import-outside-toplevel

    with open(args.tls_ca, "rb") as file:
        credentials = grpc.ssl_channel_credentials(root_certificates=file.read())
    with open(args.token_file, encoding="utf-8") as file:
        token = file.read().strip()
    with grpc.secure_channel(args.address, credentials) as channel:
        status = collector_pb2_grpc.CollectorStub(channel).GetCollectorStatus(
            collector_pb2.GetCollectorStatusRequest(), timeout=args.timeout,
            metadata=(("authorization", "Bearer " + token),))
    print(json.dumps(json_format.MessageToDict(
        status, preserving_proto_field_name=True,
        including_default_value_fields=True)))


# The test unsets the proxy variables; an opener without proxies makes sure
# a scrape inside a namespace never goes to one.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_series(text):
    """(name, {label: value}) of NAME or NAME{label="value",...}."""
    match = SAMPLE.match(text + " 0")
    if not match:
        raise ValueError("not a series: " + text)
    labels = dict(LABEL.findall(match.group(2) or ""))
    return match.group(1), labels


def cmd_metrics(args):
    with HTTP.open(args.url, timeout=args.timeout) as response:
        if response.status != 200:
            sys.exit("%s: HTTP %d" % (args.url, response.status))
        text = response.read().decode("utf-8")
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if match:
            samples.append((match.group(1),
                            dict(LABEL.findall(match.group(2) or "")),
                            float(match.group(3))))
    for series in args.series:
        name, labels = parse_series(series)
        found = [value for sample_name, sample_labels, value in samples
                 if sample_name == name and
                 all(sample_labels.get(k) == v for k, v in labels.items())]
        if len(found) != 1:
            sys.exit("%s: %d samples of %s" % (args.url, len(found), series))
        value = found[0]
        print(int(value) if value.is_integer() else value)


def cmd_healthz(args):
    try:
        with HTTP.open(args.url, timeout=args.timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    print("%s: HTTP %d" % (args.url, status))
    return 0 if status == 200 else 1


def cmd_scope(args):
    totals = results_totals(args.results).get((args.contest, args.scope), {})
    print(num(totals.get(args.field)))


def expected_totals(definition, files):
    """(contest, scope) -> figures, from the last version of each protocol."""
    stations = {s["id"]: s for s in definition["stations"]}
    latest = {}
    seen = collections.Counter()
    submissions = 0
    for path in files:
        with open(path, encoding="utf-8") as file:
            for line in file:
                if not line.strip():
                    continue
                protocol = json.loads(line)
                submissions += 1
                key = (protocol["contest_id"], protocol["station_id"])
                version = num(protocol.get("version"))
                seen[(key, version)] += 1
                if key not in latest or version > num(latest[key].get("version")):
                    latest[key] = protocol
    expected = collections.defaultdict(lambda: {
        "votes": collections.Counter(), "against_all": 0, "invalid": 0,
        "ballots_cast": 0, "ballots_issued": 0, "registered_voters": 0,
        "stations_reported": 0, "stations_expected": 0,
        "stations_with_anomalies": 0})
    contests = {c["id"]: c for c in definition["contests"]}

    def scopes(contest, station):
        if contest.get("district_id"):
            return ["district/" + contest["district_id"]]
        return ["national", "region/" + station["region_id"],
                "district/" + station["district_id"]]

    for contest in contests.values():
        for station in stations.values():
            if (contest.get("district_id") and
                    contest["district_id"] != station["district_id"]):
                continue
            for scope in scopes(contest, station):
                expected[(contest["id"], scope)]["stations_expected"] += 1
    for (contest_id, station_id), protocol in latest.items():
        station = stations[station_id]
        accounting = protocol.get("accounting", {})
        for scope in scopes(contests[contest_id], station):
            figures = expected[(contest_id, scope)]
            for line in protocol.get("votes", []):
                figures["votes"][line["choice_id"]] += num(line.get("votes"))
            against_all = num(accounting.get("against_all"))
            invalid = num(accounting.get("invalid"))
            figures["against_all"] += against_all
            figures["invalid"] += invalid
            figures["ballots_cast"] += num(accounting.get("ballots_found"))
            figures["ballots_issued"] += num(accounting.get("ballots_issued"))
            figures["registered_voters"] += num(station["registered_voters"])
            figures["stations_reported"] += 1
    for figures in expected.values():
        figures["votes"] = {k: v for k, v in figures["votes"].items() if v}
    corrections = sum(1 for (_, version) in seen if version > 1)
    duplicates = sum(count - 1 for count in seen.values())
    assert submissions == len(latest) + corrections + duplicates
    night = "%d submissions: %d protocols, %d corrections, %d duplicates" % (
        submissions, len(latest), corrections, duplicates)
    return expected, night


def cmd_expect(args):
    definition = load(args.definition)
    expected, night = expected_totals(definition, args.files)
    got = results_totals(args.results)
    problems = []
    for key in sorted(set(expected) | set(got)):
        want = expected.get(key)
        have = totals_fields(got[key]) if key in got else None
        if want is None or have is None:
            problems.append("%s %s: %s" % (
                key[0], key[1], "not expected" if want is None else "missing"))
            continue
        for field, value in want.items():
            if have[field] != value:
                problems.append("%s %s %s: aggregator %s, expected %s" % (
                    key[0], key[1], field, have[field], value))
    for problem in problems:
        print("DIFFERENCE " + problem)
    list_national = expected.get(("mazhilis-list", "national"), {})
    print("%s; compared %d totals (list: %s stations, %s ballots): %d "
          "differences" % (
              night, len(expected),
              list_national.get("stations_reported"),
              list_national.get("ballots_cast"), len(problems)))
    return 1 if problems else 0


def cmd_watch(args):
    seen = {}
    complete = False
    with open(args.watch, encoding="utf-8") as file:
        for line in file:
            if not line.strip():
                continue
            message = json.loads(line)
            if "resync" in message or "compacted" in message:
                seen, complete = {}, False
            if "snapshot" in message:
                if complete:
                    seen, complete = {}, False
                totals_list = message["snapshot"].get("totals", [])
            elif "event" in message:
                totals_list = message["event"].get("totals", [])
            else:
                totals_list = []
                complete = complete or "snapshot_complete" in message
            for totals in totals_list:
                seen[(totals["contest_id"], scope_key(totals.get("scope")))] = (
                    totals_fields(totals))
    got = {key: totals_fields(value)
           for key, value in results_totals(args.results).items()}
    problems = []
    for key in sorted(set(seen) | set(got)):
        if seen.get(key) != got.get(key):
            problems.append("%s %s: watch %s, aggregator %s" % (
                key[0], key[1], seen.get(key), got.get(key)))
    for problem in problems:
        print("DIFFERENCE " + problem)
    print("watch: %d totals, %d differences from the aggregator" % (
        len(seen), len(problems)))
    return 1 if problems or not seen else 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("smallest")
    p.add_argument("n", type=int)
    p.add_argument("definition")
    p.set_defaults(run=cmd_smallest)
    p = sub.add_parser("slice")
    p.add_argument("definition")
    p.add_argument("out")
    p.add_argument("regions", nargs="+")
    p.set_defaults(run=cmd_slice)
    p = sub.add_parser("status")
    p.add_argument("--proto", required=True)
    p.add_argument("--stubs", required=True)
    p.add_argument("--tls_ca", required=True)
    p.add_argument("--token_file", required=True)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("address")
    p.set_defaults(run=cmd_status)
    p = sub.add_parser("metrics")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("url")
    p.add_argument("series", nargs="+")
    p.set_defaults(run=cmd_metrics)
    p = sub.add_parser("healthz")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("url")
    p.set_defaults(run=cmd_healthz)
    p = sub.add_parser("scope")
    p.add_argument("--results", required=True)
    p.add_argument("contest")
    p.add_argument("scope")
    p.add_argument("field")
    p.set_defaults(run=cmd_scope)
    p = sub.add_parser("expect")
    p.add_argument("--definition", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("files", nargs="+")
    p.set_defaults(run=cmd_expect)
    p = sub.add_parser("watch")
    p.add_argument("--results", required=True)
    p.add_argument("--watch", required=True)
    p.set_defaults(run=cmd_watch)
    args = parser.parse_args()
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
