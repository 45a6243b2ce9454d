#!/usr/bin/env python3
"""Smoke test of tally-bench: every scenario at tiny sizes against the real
binaries and a real PostgreSQL. Checks that the JSON is well formed and that
the counts are exact (everything sent was acknowledged, accepted and seen).
Timings are not checked: performance is what the benchmark reports, not
something a test asserts.

usage: bench_smoke_test.py BENCH_BINARY WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def main():
    bench, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    out = os.path.join(work, "results.json")
    stations = 2000  # 4,000 protocols in the measurement election
    args = [
        bench, "--out", out, "--work_dir", os.path.join(work, "run"),
        "--scenarios", "ingest,two_hop,feed,scale,log,forensics",
        "--stations", str(stations),
        "--streams", "1,4", "--batches", "1,16",
        "--ingest_protocols", "1600", "--ingest_max_seconds", "120",
        "--pg_protocols", "320", "--pg_max_seconds", "120",
        "--twohop_collectors", "2", "--twohop_clients", "2",
        "--twohop_chunks", "1,50", "--twohop_protocols", "400",
        "--twohop_max_seconds", "120",
        "--watchers", "10,30", "--watchers_per_connection", "8",
        "--feed_rate", "400", "--feed_batch", "20", "--feed_seconds", "2",
        "--scale_shapes", "india,indonesia", "--scale_fraction", "0.001",
        "--log_shapes", "indonesia", "--log_fraction", "0.001",
        "--log_proofs", "40", "--forensics_rounds", "1",
    ]
    run = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=900)
    text = run.stdout.decode(errors="replace")
    if run.returncode != 0:
        fail("tally-bench exited %d:\n%s" % (run.returncode, text[-6000:]))
    with open(out) as f:
        report = json.load(f)
    for key in ("machine", "results", "targets", "errors"):
        if key not in report:
            fail("missing key " + key)
    if report["errors"]:
        fail("errors: %s" % report["errors"])
    rows = report["results"]
    for field in ("cpus", "cpu_model", "disk"):
        if field not in report["machine"]:
            fail("machine lacks " + field)

    def of(scenario, system=None):
        return [r for r in rows if r["scenario"] == scenario and
                (system is None or r["system"] == system)]

    tally_ingest = of("ingest", "tally")
    if len(tally_ingest) != 4:
        fail("expected 4 tally ingest rows, got %d" % len(tally_ingest))
    for r in tally_ingest:
        if not (r["protocols"] == r["accepted"] == r["accepted_by_server"] == 1600):
            fail("tally ingest counts: %s" % r)
        if r["protocols_per_second"] <= 0 or r["commit_rounds"] <= 0:
            fail("tally ingest figures missing: %s" % r)
    for system in ("postgres-totals-in-txn", "postgres-totals-at-read"):
        pg = of("ingest", system)
        if len(pg) != 4:
            fail("expected 4 %s rows, got %d" % (system, len(pg)))
        for r in pg:
            if not (r["protocols"] == r["accepted"] == 320):
                fail("%s counts: %s" % (system, r))
            if r["totals_match"] is not True:
                fail("%s totals differ from a recount: %s" % (system, r))
    ratios = of("ingest_ratio")
    if len(ratios) != 4 or any(r["ratio"] <= 0 for r in ratios):
        fail("ratios: %s" % ratios)
    two_hop = of("two_hop")
    if len(two_hop) != 2:
        fail("expected 2 two-hop rows, got %d" % len(two_hop))
    for r in two_hop:
        if not (r["protocols"] == r["accepted"] == r["seen_in_watch"] == 400):
            fail("two-hop counts: %s" % r)
    feed = of("feed")
    if len(feed) != 4:
        fail("expected 4 feed rows, got %d" % len(feed))
    for r in feed:
        if r["connected"] is not True or r["held"] is not True:
            fail("watchers not held: %s" % r)
        if r["still_open"] != r["watchers"] or r["ingested"] <= 0:
            fail("feed counts: %s" % r)
    expected = {"india": 1086, "indonesia": 820 * 5}
    for r in of("scale"):
        if not (r["protocols"] == r["accepted"] == expected[r["shape"]]):
            fail("scale counts: %s" % r)
    recovery = of("recovery")
    if len(recovery) != 2:
        fail("expected 2 recovery rows, got %d" % len(recovery))
    for r in recovery:
        if r["stored_protocols"] != expected[r["shape"]]:
            fail("recovery counts: %s" % r)
        if r.get("restart_seconds", 0) <= 0 or \
                r.get("restart_after_kill_seconds", 0) <= 0:
            fail("restart not measured: %s" % r)
    log = of("log")
    if len(log) != 1:
        fail("expected 1 log row, got %d" % len(log))
    for r in log:
        # Every accepted protocol is a leaf; every proof verified against
        # the signed roots; the audit agreed with the head and GetResults.
        if not (r["protocols"] == r["leaves"] == expected[r["shape"]]):
            fail("log counts: %s" % r)
        # Consistency proofs start from earlier heads: none when the whole
        # night went into one round.
        kinds = ("inclusion", "consistency") if r["revisions"] > 1 else \
            ("inclusion",)
        for kind in kinds:
            if not (r[kind + "_proofs"] == r[kind + "_verified"] == 40):
                fail("%s proofs: %s" % (kind, r))
            if not 0 < r[kind + "_nodes_read_max"] <= 2 * 13:
                fail("%s proof nodes beyond 2 log2(n): %s" % (kind, r))
        if r["audit_ok"] is not True or r["audit_leaves_per_second"] <= 0:
            fail("audit: %s" % r)
    # Forensics off and on: the same 1600 protocols each (the last ingest
    # configuration), then the summary with both rates.
    runs = of("forensics_run")
    if sorted(r["forensics"] for r in runs) != ["off", "on"]:
        fail("forensics runs: %s" % runs)
    for r in runs:
        if not (r["protocols"] == r["accepted"] == 1600):
            fail("forensics run counts: %s" % r)
    summary = of("forensics")
    if len(summary) != 1 or summary[0]["protocols_per_second_off"] <= 0 or \
            summary[0]["protocols_per_second_on"] <= 0 or \
            "throughput_cost_percent" not in summary[0]:
        fail("forensics summary: %s" % summary)
    shutil.rmtree(work, ignore_errors=True)
    print("bench smoke test: %d rows checked" % len(rows))
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
