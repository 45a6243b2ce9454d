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
#include "services/observability/server_flags.h"
#include "services/relay/server.h"
#include "services/security/tls_credentials.h"

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
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of this server");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of this server");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that verifies the upstream; default: the system roots");
ABSL_FLAG(bool, insecure, false,
          "plain text to watchers and to the upstream (local demos only)");

namespace {

absl::Status ConfigureSecurity(tally::relay::RelayConfig& config) {
  tally::security::ServerTlsOptions server;
  server.cert_file = absl::GetFlag(FLAGS_tls_cert);
  server.key_file = absl::GetFlag(FLAGS_tls_key);
  server.insecure = absl::GetFlag(FLAGS_insecure);
  auto server_credentials = tally::security::MakeServerCredentials(server);
  if (!server_credentials.ok()) return server_credentials.status();
  config.credentials = *server_credentials;
  // The relay only reads the feed: no client certificate upstream.
  tally::security::ClientTlsOptions client;
  client.ca_file = absl::GetFlag(FLAGS_tls_ca);
  client.insecure = server.insecure;
  auto channel_credentials = tally::security::MakeChannelCredentials(client);
  if (!channel_credentials.ok()) return channel_credentials.status();
  config.upstream_credentials = *channel_credentials;
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tally-relay --upstream HOST:PORT (--tls_cert PEM --tls_key PEM "
      "--tls_ca PEM | --insecure) [--listen HOST:PORT]");
  absl::ParseCommandLine(argc, argv);
  if (!tally::obs::ConfigureLoggingFromFlags("tally-relay").ok()) return 2;

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
  config.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  if (absl::Status secured = ConfigureSecurity(config); !secured.ok()) {
    tally::obs::LogError("refusing to start", {{"reason", secured.message()}});
    return 2;
  }
  auto server = tally::relay::RelayServer::Start(config);
  if (!server.ok()) {
    tally::obs::LogError(
        "cannot start",
        {{"reason", server.status().message()},
         {"code", absl::StatusCodeToString(server.status().code())}});
    return 1;
  }
  tally::obs::LogServing((*server)->Describe(), (*server)->admin_address(),
                         {{"port", (*server)->port()},
                          {"upstream", config.upstream},
                          {"tls", !absl::GetFlag(FLAGS_insecure)}});

  int signal = 0;
  sigwait(&stop_signals, &signal);
  tally::obs::LogInfo("stop signal, draining", {{"signal", signal}});
  (*server)->Shutdown(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  tally::obs::LogInfo("stopped", {{"revision", (*server)->revision()}});
  return 0;
}
