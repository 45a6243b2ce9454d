// The PostgreSQL peer: the tabulator a commission's IT team would build on
// PostgreSQL 15, measured against tally in the same run. The benchmark
// starts its own server (initdb in a temporary directory, unix socket
// only, fsync and synchronous_commit on) and loads the same protocols.
//
// Schema: `stations` and `contests` (loaded from the definition before
// timing), `protocols` keyed by (contest, station), upserted by version
// (higher version replaces, same version and digest is a duplicate, same
// version with another digest a conflict, lower version stale), and
// `totals` per (contest, scope) for the "totals in the transaction"
// variant, moved by new minus old version in the same transaction as the
// upsert. The "totals at read time" variant only upserts; its totals are a
// GROUP BY over `protocols` when read.
#ifndef TALLY_CLIENTS_BENCH_PG_PEER_H_
#define TALLY_CLIENTS_BENCH_PG_PEER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/bench/child_process.h"
#include "clients/bench/latency.h"
#include "clients/bench/workload.h"

namespace tally::bench {

class PgServer {
 public:
  // initdb + postgres in a new directory under /tmp (which the postgres
  // user can always reach, unlike a build tree under /root), run as the
  // `postgres` user when this process is root (PostgreSQL refuses to run
  // as root). The directory is removed by the destructor.
  static absl::StatusOr<std::unique_ptr<PgServer>> Start(
      const std::string& bin_dir);
  ~PgServer();
  // libpq connection string of the unix socket.
  const std::string& conninfo() const { return conninfo_; }
  void Stop();

 private:
  PgServer() = default;
  ChildProcess process_;
  std::string dir_;
  std::string conninfo_;
};

// The protocol as the peer's client sends it: SQL array literals prepared
// before timing (choice positions resolved, SHA-256 digest computed with
// the same code tally uses), so the measured time is PostgreSQL's.
struct PgProtocol {
  std::string contest_id;
  uint32_t station_id = 0;
  uint32_t version = 0;
  uint64_t registered = 0, received = 0, issued = 0, found = 0, invalid = 0,
           against_all = 0, unused = 0;
  std::string votes;       // "{1,2,3}" in the contest's choice order
  std::string digest_hex;  // SHA-256 of the canonical encoding
};

absl::StatusOr<std::vector<std::vector<PgProtocol>>> PreparePgProtocols(
    const Workload& workload,
    const std::vector<std::vector<const EncodedProtocol*>>& by_region);

struct PgOptions {
  uint32_t connections = 1;
  uint32_t batch = 1;  // protocols per transaction
  bool totals_in_transaction = true;
  absl::Duration max_time = absl::Seconds(20);
};

struct PgResult {
  uint64_t sent = 0;
  uint64_t committed = 0;
  uint64_t accepted = 0;
  uint64_t retries = 0;  // deadlocks or serialization failures
  double seconds = 0;
  LatencySamples commit_latency;  // per transaction
  // Totals of every (contest, national scope) and of every scope, read
  // back after the load: milliseconds.
  double read_national_ms = 0;
  double read_all_scopes_ms = 0;
  // The totals table equals a recomputation from `protocols` (variant
  // with totals in the transaction), or true.
  bool totals_match = true;
  std::vector<std::string> errors;
};

// Creates a fresh schema (dropping an old one), loads stations and
// contests, then runs the load with `options`.
PgResult RunPgLoad(const std::string& conninfo, const Workload& workload,
                   const std::vector<std::vector<PgProtocol>>& by_region,
                   const PgOptions& options);

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_PG_PEER_H_
