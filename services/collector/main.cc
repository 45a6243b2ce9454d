// tally-collector: the regional entry point. Validates station protocols,
// keeps them in a durable outbox and forwards them to the aggregator.
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "services/collector/server.h"

ABSL_FLAG(std::string, region, "", "region this collector serves (required)");
ABSL_FLAG(std::string, collector_id, "",
          "collector id known to the aggregator; default collector-<region>");
ABSL_FLAG(std::string, data_dir, "", "RocksDB data directory (required)");
ABSL_FLAG(std::string, listen, "127.0.0.1:7500",
          "address to serve on (host:port; port 0 picks a free one)");
ABSL_FLAG(std::string, aggregator, "127.0.0.1:7400",
          "aggregator address (host:port)");
ABSL_FLAG(std::string, definition, "",
          "election definition JSON; default: the embedded reference "
          "election");
ABSL_FLAG(uint32_t, forward_batch_entries, 512,
          "outbox entries per Ingest batch");
ABSL_FLAG(uint32_t, forward_inflight_batches, 4,
          "Ingest batches sent and not yet acknowledged");
ABSL_FLAG(uint32_t, shutdown_grace_ms, 5000,
          "on SIGTERM, how long in-flight calls may take to finish");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tally-collector --region REGION --data_dir DIR [--listen HOST:PORT] "
      "[--aggregator HOST:PORT] [--definition FILE]");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_region).empty()) {
    std::fprintf(stderr, "tally-collector: --region is required\n");
    return 2;
  }

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  tally::collector::CollectorConfig config;
  config.region_id = absl::GetFlag(FLAGS_region);
  config.collector_id = absl::GetFlag(FLAGS_collector_id);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.listen = absl::GetFlag(FLAGS_listen);
  config.aggregator = absl::GetFlag(FLAGS_aggregator);
  config.definition_path = absl::GetFlag(FLAGS_definition);
  config.forward_batch_entries = absl::GetFlag(FLAGS_forward_batch_entries);
  config.forward_inflight_batches =
      absl::GetFlag(FLAGS_forward_inflight_batches);
  auto server = tally::collector::CollectorServer::Start(config);
  if (!server.ok()) {
    std::fprintf(stderr, "tally-collector: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  std::printf("tally-collector: %s\n", (*server)->Describe().c_str());
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::printf("tally-collector: signal %d, draining\n", signal);
  std::fflush(stdout);
  (*server)->Shutdown(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  std::printf("tally-collector: stopped\n");
  return 0;
}
