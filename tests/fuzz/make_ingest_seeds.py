#!/usr/bin/python3
"""Writes the seeds of ingest_request_fuzz (serialized tally.v1.IngestRequest
messages against the reference election) into tests/fuzz/corpus/.

  tests/fuzz/make_ingest_seeds.py

Needs protoc and Debian's python3-protobuf (/usr/bin/python3). Station 1 of the reference
election is in region astana, district d01 (1948 registered voters).
"""
import os
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out_dir = os.path.join(root, "tests", "fuzz", "corpus", "ingest_request_fuzz")

with tempfile.TemporaryDirectory() as gen:
    protos = ["tally/v1/election.proto", "tally/v1/protocol.proto",
              "tally/v1/results.proto", "tally/v1/aggregator.proto"]
    subprocess.run(["protoc", "-I", os.path.join(root, "proto"),
                    "--python_out=" + gen] + protos, check=True)
    sys.path.insert(0, gen)
    from tally.v1 import aggregator_pb2  # noqa: E402


def protocol(entry, seq, contest, station, version, votes, invalid=10,
             against_all=20, registered=1948, issued=None):
    entry.seq = seq
    p = entry.protocol
    p.contest_id = contest
    p.station_id = station
    p.version = version
    found = invalid + against_all + sum(v for _, v in votes)
    issued = found if issued is None else issued
    a = p.accounting
    a.registered_voters = registered
    a.ballots_received = registered
    a.ballots_issued = issued
    a.ballots_found = found
    a.invalid = invalid
    a.against_all = against_all
    a.unused_cancelled = max(0, registered - issued)
    for choice, count in votes:
        v = p.votes.add()
        v.choice_id = choice
        v.votes = count


def write(name, request):
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(request.SerializeToString())


os.makedirs(out_dir, exist_ok=True)
hello = aggregator_pb2.IngestRequest()
hello.hello.collector_id = "collector-astana"
hello.hello.region_id = "astana"
write("hello_astana", hello)

first = aggregator_pb2.IngestRequest()
protocol(first.batch.entries.add(), 1, "mazhilis-list", 1, 1,
         [("amanat", 900), ("auyl", 300), ("respublica", 100)])
protocol(first.batch.entries.add(), 2, "smd-01", 1, 1,
         [("amanat", 700), ("auyl", 500), ("independent", 130)])
write("first_reports", first)

corrections = aggregator_pb2.IngestRequest()
protocol(corrections.batch.entries.add(), 1, "mazhilis-list", 1, 2,
         [("amanat", 899), ("auyl", 301), ("respublica", 100)])
protocol(corrections.batch.entries.add(), 2, "mazhilis-list", 1, 1,
         [("amanat", 900), ("auyl", 300), ("respublica", 100)])
protocol(corrections.batch.entries.add(), 3, "mazhilis-list", 1, 2,
         [("amanat", 1), ("auyl", 301), ("respublica", 998)])
write("correction_stale_conflict", corrections)

bad = aggregator_pb2.IngestRequest()
protocol(bad.batch.entries.add(), 5, "mazhilis-list", 2, 1,
         [("amanat", 10)], issued=5000)
protocol(bad.batch.entries.add(), 6, "smd-02", 1, 1, [("amanat", 10)])
protocol(bad.batch.entries.add(), 7, "mazhilis-list", 99999999, 1,
         [("amanat", 10)])
protocol(bad.batch.entries.add(), 8, "no-such-contest", 1, 1,
         [("nobody", 10)])
write("anomaly_and_rejections", bad)
