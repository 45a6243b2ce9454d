// tallyctl prove: proves that a station's counted protocols are in the
// transparency log under the latest signed head.
//
//   tallyctl prove --station ID [--contest C] [--log_public_key FILE] [--json]
//
// For each contest of the station (or --contest), asks the log for the
// inclusion proof of the version counted at the latest head, checks it
// against the head's root, checks that the leaf holds that station's
// protocol with a matching content digest, and prints the protocol, the
// audit path and the root. The head's signature is checked with
// --log_public_key; without it, with the key the server itself names
// (which proves the server's consistency, not who signed). Exit 0 when
// every proof holds, 1 when one does not, 2 for bad usage or an unknown
// station.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/grpc_client.h"
#include "clients/tallyctl/log_client.h"
#include "clients/tallyctl/log_flags.h"
#include "services/domain/proto_json.h"
#include "services/domain/protocol_digest.h"
#include "services/transparency/log_entry.h"
#include "services/transparency/tree_head.h"
#include "tally/v1/aggregator.grpc.pb.h"

ABSL_FLAG(uint32_t, station, 0,
          "prove: the polling station whose protocols are proven");

namespace tally::cli {
namespace {

using transparency::Hash;

int Usage(const std::string& message) {
  std::fprintf(stderr, "tallyctl prove: %s\n", message.c_str());
  return kExitBadInput;
}

int Failed(const absl::Status& status) {
  std::fprintf(stderr, "tallyctl prove: %s\n",
               std::string(status.message()).c_str());
  return absl::IsNotFound(status) || absl::IsInvalidArgument(status)
             ? kExitBadInput
             : kExitFailure;
}

// The log key to check heads with: --log_public_key, or the server's own.
absl::StatusOr<transparency::Ed25519PublicKey> HeadKey(LogClient& log,
                                                       bool* trusted) {
  *trusted = !absl::GetFlag(FLAGS_log_public_key).empty();
  if (*trusted) return LogPublicKeyFromFlag();
  absl::StatusOr<v1::GetPublicKeysResponse> keys = log.GetPublicKeys();
  if (!keys.ok()) return keys.status();
  if (keys->log_keys_size() == 0) {
    return absl::FailedPreconditionError("the log names no public key");
  }
  return transparency::Ed25519PublicKey::FromRaw(
      keys->log_keys(0).public_key());
}

// Checks one proof; returns what is wrong, or "" when it holds.
std::string CheckProof(const v1::GetInclusionProofResponse& proof,
                       const v1::TreeHead& head, const std::string& contest,
                       uint32_t station) {
  if (proof.tree_size() != head.tree_size()) {
    return absl::StrCat("the proof is for tree size ", proof.tree_size(),
                        ", the head has ", head.tree_size());
  }
  std::vector<Hash> path;
  for (const std::string& bytes : proof.audit_path()) {
    absl::StatusOr<Hash> hash = transparency::HashFromBytes(bytes, "a hash");
    if (!hash.ok()) return std::string(hash.status().message());
    path.push_back(*hash);
  }
  absl::StatusOr<Hash> root =
      transparency::HashFromBytes(head.root_hash(), "root_hash");
  if (!root.ok()) return std::string(root.status().message());
  if (absl::Status status = transparency::VerifyInclusion(
          proof.leaf_index(), proof.tree_size(),
          transparency::HashLeaf(proof.leaf_data()), path, *root);
      !status.ok()) {
    return std::string(status.message());
  }
  absl::StatusOr<v1::LogEntry> entry =
      transparency::ParseLeafData(proof.leaf_data());
  if (!entry.ok()) return std::string(entry.status().message());
  const v1::StationProtocol& protocol = entry->protocol();
  if (protocol.contest_id() != contest || protocol.station_id() != station) {
    return absl::StrCat("the leaf holds contest ", protocol.contest_id(),
                        " station ", protocol.station_id(),
                        ", not the one "
                        "asked for");
  }
  if (protocol.digest() != ProtocolDigest(protocol)) {
    return "the protocol in the leaf does not match its content digest";
  }
  return "";
}

void PrintProof(const v1::GetInclusionProofResponse& proof,
                const v1::TreeHead& head) {
  absl::StatusOr<v1::LogEntry> entry =
      transparency::ParseLeafData(proof.leaf_data());
  const v1::StationProtocol& p = entry->protocol();
  const v1::BallotAccounting& a = p.accounting();
  std::printf(
      "station %u, contest %s: version %u, accepted at revision %llu from %s "
      "#%llu\n",
      p.station_id(), p.contest_id().c_str(), p.version(),
      static_cast<unsigned long long>(entry->revision()),
      entry->collector_id().c_str(),
      static_cast<unsigned long long>(entry->collector_seq()));
  std::printf("  found %llu, invalid %llu, against all %llu;",
              static_cast<unsigned long long>(a.ballots_found()),
              static_cast<unsigned long long>(a.invalid()),
              static_cast<unsigned long long>(a.against_all()));
  for (const v1::ChoiceVotes& line : p.votes()) {
    std::printf(" %s %llu", line.choice_id().c_str(),
                static_cast<unsigned long long>(line.votes()));
  }
  std::printf("\n  content digest %s\n", HexEncode(p.digest()).c_str());
  std::printf(
      "  leaf %llu of %llu, hash %s\n",
      static_cast<unsigned long long>(proof.leaf_index()),
      static_cast<unsigned long long>(proof.tree_size()),
      transparency::HashHex(transparency::HashLeaf(proof.leaf_data())).c_str());
  for (int i = 0; i < proof.audit_path_size(); ++i) {
    std::printf("  path %2d  %s\n", i, HexEncode(proof.audit_path(i)).c_str());
  }
  std::printf("  root     %s (revision %llu)  verified\n",
              HexEncode(head.root_hash()).c_str(),
              static_cast<unsigned long long>(head.revision()));
}

}  // namespace

int RunProve(const std::vector<std::string>& args) {
  if (args.size() > 1) return Usage("unexpected argument " + args[1]);
  const uint32_t station = absl::GetFlag(FLAGS_station);
  if (station == 0) return Usage("--station ID is required");
  const ServerRef server = AggregatorRef();
  std::shared_ptr<grpc::Channel> channel = MakeChannel(server.address);
  LogClient log(channel, server,
                absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms)));

  bool trusted = false;
  absl::StatusOr<transparency::Ed25519PublicKey> key = HeadKey(log, &trusted);
  if (!key.ok()) return Failed(key.status());
  absl::StatusOr<v1::GetTreeHeadResponse> served = VerifiedHead(log, 0, *key);
  if (!served.ok()) return Failed(served.status());
  const v1::TreeHead& head = served->signed_head().head();

  std::vector<std::string> contests;
  if (!absl::GetFlag(FLAGS_contest).empty()) {
    contests.push_back(absl::GetFlag(FLAGS_contest));
  } else {
    auto aggregator = v1::Aggregator::NewStub(channel);
    v1::GetStationRequest request;
    request.set_station_id(station);
    v1::GetStationResponse response;
    grpc::Status status =
        aggregator->GetStation(CallContext().get(), request, &response);
    if (!status.ok())
      return ReportFailure("prove", status, server, channel.get());
    for (const v1::StationContestHistory& contest : response.contests()) {
      if (contest.current_version() > 0) {
        contests.push_back(contest.contest_id());
      }
    }
    if (contests.empty()) {
      return Failed(absl::NotFoundError(absl::StrCat(
          "station ", station, " has no counted protocol to prove")));
    }
  }

  if (!absl::GetFlag(FLAGS_json)) {
    std::printf("head of revision %llu: %llu leaves, root %s, signed by %s%s\n",
                static_cast<unsigned long long>(head.revision()),
                static_cast<unsigned long long>(head.tree_size()),
                transparency::ShortHash(head.root_hash()).c_str(),
                key->Fingerprint().substr(0, 16).c_str(),
                trusted ? ""
                        : " (the server's own key: give "
                          "--log_public_key to check who signed)");
  }
  int exit_code = kExitOk;
  for (const std::string& contest : contests) {
    v1::GetInclusionProofRequest request;
    request.set_contest_id(contest);
    request.set_station_id(station);
    request.set_tree_size(head.tree_size());
    absl::StatusOr<v1::GetInclusionProofResponse> proof =
        log.GetInclusionProof(request);
    if (!proof.ok()) return Failed(proof.status());
    const std::string problem = CheckProof(*proof, head, contest, station);
    if (absl::GetFlag(FLAGS_json)) {
      absl::StatusOr<std::string> json = ToJson(*proof, {.pretty = false});
      if (json.ok()) {
        std::string line = *json;
        while (!line.empty() && line.back() == '\n') line.pop_back();
        std::printf("%s\n", line.c_str());
      }
    } else if (problem.empty()) {
      PrintProof(*proof, head);
    }
    if (!problem.empty()) {
      std::printf("station %u, contest %s: the proof does NOT hold: %s\n",
                  station, contest.c_str(), problem.c_str());
      exit_code = kExitFailure;
    }
  }
  return exit_code;
}

}  // namespace tally::cli
