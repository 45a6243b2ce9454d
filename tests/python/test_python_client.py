#!/usr/bin/env python3
"""The aggregator's API from Python: stubs generated from proto/ at test time.

Starts the real tally-aggregator on 127.0.0.1:0 with a fresh data
directory, then reads the election and the results, watches the feed, and
ingests one protocol through an Ingest stream built only from what
GetElection says. Every call has a timeout. Needs Debian's python3-grpcio
and python3-protobuf and protoc with grpc_python_plugin.

  test_python_client.py --aggregator PATH --proto DIR [unittest args]
"""

import argparse
import glob
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

CALL_TIMEOUT = 30  # seconds, every unary call
STREAM_TIMEOUT = 120  # seconds, the Watch and Ingest streams
START_TIMEOUT = 120  # seconds, until the aggregator serves
LIST = "mazhilis-list"

OPTIONS = argparse.Namespace(aggregator=None, proto=None)


def generate_stubs(proto_dir, out_dir):
    """Runs protoc with the gRPC Python plugin over proto/tally/v1."""
    sources = sorted(
        os.path.relpath(path, proto_dir)
        for path in glob.glob(os.path.join(proto_dir, "tally", "v1", "*.proto")))
    if not sources:
        raise RuntimeError("no .proto files under " + proto_dir)
    subprocess.run(
        ["protoc", "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         "-I", proto_dir] + sources,
        check=True, timeout=120)
    # Plain packages, so the generated "from tally.v1 import ..." resolves.
    for package in ("tally", os.path.join("tally", "v1")):
        open(os.path.join(out_dir, package, "__init__.py"), "a").close()


class Aggregator:
    """The real binary; output goes to a log file read for its address."""

    def __init__(self, binary, data_dir, log_path):
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [binary, "--data_dir", data_dir, "--listen", "127.0.0.1:0",
                 "--insecure"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            return log.read()

    def wait_serving(self, timeout):
        """Returns (address, revision) from the serving line."""
        deadline = time.monotonic() + timeout
        pattern = re.compile(r"serving on (\S+) at revision (\d+)")
        while time.monotonic() < deadline:
            match = pattern.search(self.log())
            if match:
                return match.group(1), int(match.group(2))
            if self.process.poll() is not None:
                raise RuntimeError("aggregator exited:\n" + self.log())
            time.sleep(0.02)
        raise RuntimeError("aggregator not serving:\n" + self.log())

    def stop(self, timeout):
        """SIGTERM; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


class Watch:
    """A Watch call drained by a thread into a queue, for reads with
    timeouts."""

    def __init__(self, stub, request):
        self.call = stub.Watch(request, timeout=STREAM_TIMEOUT)
        self.messages = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for message in self.call:
                self.messages.put(message)
        except Exception as error:  # the end of the stream, cancel included
            self.messages.put(error)
        self.messages.put(None)

    def next(self, timeout=CALL_TIMEOUT):
        message = self.messages.get(timeout=timeout)
        if message is None or isinstance(message, Exception):
            raise AssertionError("the Watch stream ended: %r" % (message,))
        return message

    def cancel(self):
        self.call.cancel()
        self.thread.join(timeout=CALL_TIMEOUT)


class PythonClientTest(unittest.TestCase):
    """Runs in name order against one aggregator, stopped by the last."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="tally-python-")
        stubs = os.path.join(cls.workdir, "stubs")
        os.makedirs(stubs)
        generate_stubs(OPTIONS.proto, stubs)
        sys.path.insert(0, stubs)
        # pylint: disable=import-outside-toplevel
        import grpc
        from tally.v1 import aggregator_pb2
        from tally.v1 import aggregator_pb2_grpc
        from tally.v1 import feed_pb2
        from tally.v1 import feed_pb2_grpc
        from tally.v1 import protocol_pb2
        from tally.v1 import results_pb2
        cls.grpc = grpc
        cls.pb = aggregator_pb2
        cls.feed_pb = feed_pb2
        cls.protocol_pb = protocol_pb2
        cls.results_pb = results_pb2

        cls.aggregator = Aggregator(
            OPTIONS.aggregator, os.path.join(cls.workdir, "data"),
            os.path.join(cls.workdir, "aggregator.log"))
        try:
            cls.address, cls.start_revision = cls.aggregator.wait_serving(
                START_TIMEOUT)
        except Exception:
            cls.aggregator.kill()
            raise
        cls.channel = grpc.insecure_channel(
            cls.address,
            options=[("grpc.max_receive_message_length", 64 << 20)])
        cls.stub = aggregator_pb2_grpc.AggregatorStub(cls.channel)
        cls.feed = feed_pb2_grpc.FeedStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.aggregator.kill()  # only if a failure left it running
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def test_1_get_election(self):
        brief = self.stub.GetElection(self.pb.GetElectionRequest(),
                                      timeout=CALL_TIMEOUT)
        self.assertEqual(brief.definition.id, "kz-2023-mazhilis")
        self.assertEqual(brief.station_count, 10310)
        self.assertEqual(len(brief.definition.stations), 0)
        self.assertEqual(len(brief.definition.contests), 30)
        self.assertEqual(len(brief.definition_digest), 64)
        full = self.stub.GetElection(
            self.pb.GetElectionRequest(include_stations=True),
            timeout=CALL_TIMEOUT)
        self.assertEqual(len(full.definition.stations), 10310)
        self.assertEqual(
            sum(s.registered_voters for s in full.definition.stations),
            full.registered_voters)

    def test_2_get_results(self):
        response = self.stub.GetResults(
            self.pb.GetResultsRequest(contest_id=LIST), timeout=CALL_TIMEOUT)
        self.assertEqual(len(response.results), 1)
        totals = response.results[0].totals
        self.assertEqual(totals.contest_id, LIST)
        self.assertEqual(totals.scope.kind,
                         self.results_pb.SCOPE_KIND_NATIONAL)
        self.assertEqual(
            [c.choice_id for c in totals.choices],
            ["amanat", "auyl", "respublica", "aq-jol", "qhp", "jsdp",
             "baytaq"])
        self.assertEqual(totals.stations_expected, 10310)
        self.assertEqual(totals.stations_reported, 0)
        self.assertEqual(response.results[0].allocation.seats, 69)

    def build_protocol(self):
        """A valid list protocol for the first station, from the
        definition alone: its register and a consistent accounting."""
        election = self.stub.GetElection(
            self.pb.GetElectionRequest(include_stations=True),
            timeout=CALL_TIMEOUT)
        station = election.definition.stations[0]
        contest = next(c for c in election.definition.contests
                       if c.id == LIST)
        registered = station.registered_voters
        issued = registered * 6 // 10
        invalid = issued // 50
        against_all = issued // 40 if contest.against_all_on_ballot else 0
        valid = issued - invalid - against_all
        weights = [50, 10, 8, 8, 6, 5, 3][:len(contest.choices)]
        weights += [1] * (len(contest.choices) - len(weights))
        votes = [valid * w // sum(weights) for w in weights]
        votes[0] += valid - sum(votes)
        protocol = self.protocol_pb.StationProtocol(
            contest_id=LIST, station_id=station.id, version=1,
            accounting=self.protocol_pb.BallotAccounting(
                registered_voters=registered,
                ballots_received=issued + 25,
                ballots_issued=issued,
                ballots_found=issued,
                invalid=invalid,
                against_all=against_all,
                unused_cancelled=25),
            votes=[self.protocol_pb.ChoiceVotes(choice_id=c.id, votes=v)
                   for c, v in zip(contest.choices, votes)])
        return station, protocol

    def ingest(self, region_id, protocol):
        """One Ingest stream: hello, welcome, one batch, its ack."""
        requests = queue.Queue()
        requests.put(self.pb.IngestRequest(hello=self.pb.IngestHello(
            collector_id="python-collector", region_id=region_id)))

        def request_stream():
            while True:
                request = requests.get(timeout=STREAM_TIMEOUT)
                if request is None:
                    return
                yield request

        responses = self.stub.Ingest(request_stream(), timeout=STREAM_TIMEOUT)
        welcome = next(responses)
        self.assertTrue(welcome.HasField("welcome"))
        seq = welcome.welcome.last_applied_seq + 1
        requests.put(self.pb.IngestRequest(batch=self.pb.IngestBatch(
            entries=[self.pb.OutboxEntry(seq=seq, protocol=protocol)])))
        ack = next(responses)
        requests.put(None)  # half-close
        for _ in responses:  # drain to the end of the stream
            pass
        self.assertEqual(responses.code(), self.grpc.StatusCode.OK)
        self.assertTrue(ack.HasField("ack"))
        self.assertEqual(ack.ack.durable_seq, seq)
        return ack.ack

    def test_3_watch_sees_an_ingested_protocol(self):
        station, protocol = self.build_protocol()
        watch = Watch(self.feed,
                      self.feed_pb.WatchRequest(from_revision=0,
                                                include_stations=True))
        try:
            snapshots = 0
            while True:
                message = watch.next()
                kind = message.WhichOneof("kind")
                if kind == "snapshot":
                    snapshots += 1
                    continue
                self.assertEqual(kind, "snapshot_complete")
                break
            self.assertGreaterEqual(snapshots, 1)
            self.assertEqual(message.snapshot_complete.revision,
                             self.start_revision)

            ack = self.ingest(station.region_id, protocol)
            self.assertEqual(len(ack.results), 1)
            result = ack.results[0]
            self.assertEqual(result.outcome, self.protocol_pb.OUTCOME_ACCEPTED,
                             result.message)
            self.assertEqual(result.station_id, station.id)
            self.assertEqual(ack.revision, self.start_revision + 1)

            while True:
                message = watch.next()
                if message.WhichOneof("kind") == "progress":
                    continue
                self.assertEqual(message.WhichOneof("kind"), "event")
                break
            event = message.event
            self.assertEqual(event.revision, ack.revision)
            self.assertEqual([(s.station_id, s.version) for s in event.stations],
                             [(station.id, 1)])
            national = [t for t in event.totals
                        if t.contest_id == LIST and t.scope.kind ==
                        self.results_pb.SCOPE_KIND_NATIONAL]
            self.assertEqual(len(national), 1)
            self.assertEqual(national[0].stations_reported, 1)
            self.assertEqual(
                {c.choice_id: c.votes for c in national[0].choices},
                {v.choice_id: v.votes for v in protocol.votes})
            self.assertEqual(national[0].ballots_cast,
                             protocol.accounting.ballots_found)
        finally:
            watch.cancel()

        # The same numbers through GetResults.
        response = self.stub.GetResults(
            self.pb.GetResultsRequest(contest_id=LIST), timeout=CALL_TIMEOUT)
        self.assertEqual(response.revision, ack.revision)
        self.assertEqual(response.results[0].totals.stations_reported, 1)

    def test_4_sigterm_exits_cleanly(self):
        # An open connection would hold the graceful stop for its grace.
        self.channel.close()
        self.assertEqual(self.aggregator.stop(timeout=60), 0,
                         self.aggregator.log())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aggregator", required=True,
                        help="path of the tally-aggregator binary")
    parser.add_argument("--proto", required=True,
                        help="the proto/ directory holding tally/v1")
    options, rest = parser.parse_known_args()
    OPTIONS.aggregator = options.aggregator
    OPTIONS.proto = options.proto
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False,
                            verbosity=2)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
