// tallyctl subcommands. Each takes the arguments after its name (argv[0] is
// the subcommand name) and returns the process exit code: 0 success, 1
// operational failure, 2 bad usage or bad input.
#ifndef TALLY_CLIENTS_TALLYCTL_COMMANDS_H_
#define TALLY_CLIENTS_TALLYCTL_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "tally/v1/collector.grpc.pb.h"
#include "tally/v1/protocol.pb.h"

namespace tally::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;

// tallyctl seats [--input FILE]: seat allocation of JSON on stdin.
int RunSeats(const std::vector<std::string>& args);

// tallyctl definition generate|check|summary ...
int RunDefinition(const std::vector<std::string>& args);

// tallyctl results / station ID / verify [--db DIR] / watch.
int RunResults(const std::vector<std::string>& args);
// tallyctl composition [--json]: seats by nominating party over every
// contest (services/domain/composition.h), from the aggregator's results.
int RunComposition(const std::vector<std::string>& args);
int RunStation(const std::vector<std::string>& args);
int RunVerify(const std::vector<std::string>& args);
int RunWatch(const std::vector<std::string>& args);
// tallyctl replicas: GetReplicaStatus of every replica of --aggregator.
int RunReplicas(const std::vector<std::string>& args);
// tallyctl forensics [--contest C] [--scope S] [--json]: warning signs.
int RunForensics(const std::vector<std::string>& args);

// tallyctl export --format nist-cdf [--level L] [--output FILE]: the
// current revision as a NIST SP 1500-100 v2 JSON ElectionReport.
int RunExport(const std::vector<std::string>& args);

// The transparency log: tallyctl audit / prove --station ID / witness.
int RunAudit(const std::vector<std::string>& args);
int RunProve(const std::vector<std::string>& args);
int RunWitness(const std::vector<std::string>& args);

// tallyctl submit --collector HOST:PORT FILE...
int RunSubmit(const std::vector<std::string>& args);

// tallyctl simulate [--collectors region=HOST:PORT,...] [--write_dir DIR]...
int RunSimulate(const std::vector<std::string>& args);

// What a collector answered, summed over submissions; shared by submit and
// simulate.
struct SubmitTally {
  uint64_t submitted = 0;
  uint64_t accepted = 0;
  uint64_t duplicate = 0;
  uint64_t stale = 0;
  uint64_t rejected = 0;
  // The verdicts of the rejected protocols, with their reasons.
  std::vector<v1::ProtocolResult> rejections;

  void Add(const SubmitTally& other);
};

// Sends `protocols` on one SubmitStream call per chunk of `chunk_size`,
// retrying a chunk after UNAVAILABLE or DEADLINE_EXCEEDED with exponential
// backoff (resending is safe: the collector answers DUPLICATE for what it
// already holds, so a retried chunk may count earlier acceptances as
// duplicates). Adds the verdicts to `tally`; returns the last failure when a
// chunk could not be delivered. `on_chunk` (may be empty) runs after every
// delivered chunk; `on_retry` (may be empty) before every retry, with the
// failure and the attempt that comes next. Defined in submit_command.cc.
grpc::Status SubmitProtocols(
    v1::Collector::Stub& stub,
    const std::vector<v1::StationProtocol>& protocols, size_t chunk_size,
    SubmitTally* tally, const std::function<void()>& on_chunk,
    const std::function<void(const grpc::Status&, uint32_t next_attempt,
                             uint32_t max_attempts)>& on_retry = nullptr);

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_COMMANDS_H_
