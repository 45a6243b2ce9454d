// tally-relay: the stateless fan-out tier of the live feed. Keeps one
// Feed.Watch on its upstream (the aggregator or another relay) and serves
// the same Feed API to many watchers.
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "services/relay/server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7600",
          "address to serve on (host:port; port 0 picks a free one)");
ABSL_FLAG(std::string, upstream, "",
          "aggregator or relay to follow, host:port (required)");
ABSL_FLAG(uint32_t, watch_queue_limit, 1024,
          "messages queued per watcher before it is resynchronised");
ABSL_FLAG(uint32_t, progress_interval_ms, 1000,
          "default interval of Watch progress notifications");
ABSL_FLAG(uint64_t, retained_events, 10000,
          "recent events kept in memory for Watch resumption");
ABSL_FLAG(uint32_t, shutdown_grace_ms, 5000,
          "on SIGTERM, how long in-flight calls may take to finish");
ABSL_FLAG(uint32_t, reconnect_max_backoff_ms, 5000,
          "longest wait between attempts to reach the upstream");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tally-relay --upstream HOST:PORT [--listen HOST:PORT]");
  absl::ParseCommandLine(argc, argv);

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  tally::relay::RelayConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.upstream = absl::GetFlag(FLAGS_upstream);
  config.watch_queue_limit = absl::GetFlag(FLAGS_watch_queue_limit);
  config.progress_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_progress_interval_ms));
  config.retained_events = absl::GetFlag(FLAGS_retained_events);
  config.reconnect_max_backoff =
      absl::Milliseconds(absl::GetFlag(FLAGS_reconnect_max_backoff_ms));
  auto server = tally::relay::RelayServer::Start(config);
  if (!server.ok()) {
    std::fprintf(stderr, "tally-relay: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  std::printf("tally-relay: %s\n", (*server)->Describe().c_str());
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::printf("tally-relay: signal %d, draining\n", signal);
  std::fflush(stdout);
  (*server)->Shutdown(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  std::printf("tally-relay: stopped at revision %llu\n",
              static_cast<unsigned long long>((*server)->revision()));
  return 0;
}
