// tally-aggregator: the source of truth. Durable ingest from collectors,
// incremental totals and seats, the live feed.
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "services/aggregator/server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7400",
          "address to serve on (host:port; port 0 picks a free one)");
ABSL_FLAG(std::string, data_dir, "", "RocksDB data directory (required)");
ABSL_FLAG(std::string, definition, "",
          "election definition JSON; default: the stored one, or the "
          "embedded reference election on a new data directory");
ABSL_FLAG(uint64_t, retained_events, 100000,
          "events kept for Watch resumption");
ABSL_FLAG(uint32_t, max_batch_entries, 4096, "largest Ingest batch accepted");
ABSL_FLAG(uint32_t, max_inflight_batches, 4,
          "Ingest batches a stream may have waiting for the committer");
ABSL_FLAG(uint32_t, watch_queue_limit, 1024,
          "messages queued per watcher before it is resynchronised");
ABSL_FLAG(uint32_t, progress_interval_ms, 1000,
          "default interval of Watch progress notifications");
ABSL_FLAG(uint32_t, shutdown_grace_ms, 5000,
          "on SIGTERM, how long in-flight calls may take to finish");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tally-aggregator --data_dir DIR [--listen HOST:PORT] [--definition "
      "FILE]");
  absl::ParseCommandLine(argc, argv);

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  tally::aggregator::AggregatorConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.definition_path = absl::GetFlag(FLAGS_definition);
  config.retained_events = absl::GetFlag(FLAGS_retained_events);
  config.max_batch_entries = absl::GetFlag(FLAGS_max_batch_entries);
  config.max_inflight_batches = absl::GetFlag(FLAGS_max_inflight_batches);
  config.watch_queue_limit = absl::GetFlag(FLAGS_watch_queue_limit);
  config.progress_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_progress_interval_ms));
  auto server = tally::aggregator::AggregatorServer::Start(config);
  if (!server.ok()) {
    std::fprintf(stderr, "tally-aggregator: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  std::printf("tally-aggregator: %s\n", (*server)->Describe().c_str());
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::printf("tally-aggregator: signal %d, draining\n", signal);
  std::fflush(stdout);
  (*server)->Shutdown(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  std::printf("tally-aggregator: stopped at revision %llu\n",
              static_cast<unsigned long long>((*server)->revision()));
  return 0;
}
