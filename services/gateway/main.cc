// tally-gateway: the HTTP face of the feed. JSON reads and Server-Sent
// Events for browsers, and the live results page.
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "services/gateway/gateway_server.h"
#include "services/observability/server_flags.h"
#include "services/security/tls_credentials.h"

#ifndef TALLY_WEB_DIR
#define TALLY_WEB_DIR "clients/web"
#endif

ABSL_FLAG(std::string, listen, "127.0.0.1:8080",
          "address to serve HTTP on (host:port; port 0 picks a free one)");
ABSL_FLAG(std::string, upstream, "127.0.0.1:7400",
          "aggregator for elections, results and health (host:port)");
ABSL_FLAG(std::string, feed, "",
          "Feed service for /v1/watch: the aggregator or a tally-relay "
          "(host:port); default: --upstream");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that verifies --upstream and --feed; default: the system "
          "roots");
ABSL_FLAG(bool, insecure, false,
          "plain text to --upstream and --feed (local demos only)");
ABSL_FLAG(std::string, web_dir, TALLY_WEB_DIR,
          "directory of the web page's files");
ABSL_FLAG(uint32_t, rpc_timeout_ms, 5000, "deadline of each unary call");
ABSL_FLAG(uint32_t, max_sse_clients, 1000,
          "concurrent /v1/watch streams; more are answered 503");
ABSL_FLAG(uint32_t, http_workers, 64,
          "worker threads for JSON and file requests on top of the SSE "
          "limit");
ABSL_FLAG(uint32_t, keepalive_ms, 15000,
          "SSE comment line after this much silence");
ABSL_FLAG(uint32_t, watch_deadline_s, 3600,
          "deadline of each upstream Watch; the browser then resumes");
ABSL_FLAG(uint32_t, shutdown_grace_ms, 5000,
          "on SIGTERM, how long requests in progress may take to finish");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tally-gateway [--listen HOST:PORT] [--upstream HOST:PORT] "
      "[--feed HOST:PORT] [--web_dir DIR] (--tls_ca PEM | --insecure)");
  absl::ParseCommandLine(argc, argv);
  if (!tally::obs::ConfigureLoggingFromFlags("tally-gateway").ok()) return 2;

  // A browser that closes its connection must end one stream, not the
  // process.
  std::signal(SIGPIPE, SIG_IGN);
  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  tally::gateway::GatewayConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.upstream = absl::GetFlag(FLAGS_upstream);
  config.feed = absl::GetFlag(FLAGS_feed);
  config.web_dir = absl::GetFlag(FLAGS_web_dir);
  config.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  {
    // HTTP itself is plain: browsers' TLS ends at the ingress in front.
    tally::security::ClientTlsOptions tls;
    tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
    tls.insecure = absl::GetFlag(FLAGS_insecure);
    auto credentials = tally::security::MakeChannelCredentials(tls);
    if (!credentials.ok()) {
      tally::obs::LogError("refusing to start",
                           {{"reason", credentials.status().message()}});
      return 2;
    }
    config.upstream_credentials = *credentials;
  }
  config.rpc_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_rpc_timeout_ms));
  config.http_workers = absl::GetFlag(FLAGS_http_workers);
  config.watch.max_clients = absl::GetFlag(FLAGS_max_sse_clients);
  config.watch.keepalive_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_keepalive_ms));
  config.watch.watch_deadline =
      absl::Seconds(absl::GetFlag(FLAGS_watch_deadline_s));
  if (config.rpc_timeout <= absl::ZeroDuration() ||
      config.watch.keepalive_interval <= absl::ZeroDuration() ||
      config.watch.watch_deadline <= absl::ZeroDuration()) {
    tally::obs::LogError(
        "--rpc_timeout_ms, --keepalive_ms and --watch_deadline_s must be "
        "positive");
    return 1;
  }
  auto server = tally::gateway::GatewayServer::Start(config);
  if (!server.ok()) {
    tally::obs::LogError(
        "cannot start",
        {{"reason", server.status().message()},
         {"code", absl::StatusCodeToString(server.status().code())}});
    return 1;
  }
  tally::obs::LogServing(
      (*server)->Describe(), (*server)->admin_address(),
      {{"upstream", config.upstream}, {"tls", !absl::GetFlag(FLAGS_insecure)}});

  int signal = 0;
  sigwait(&stop_signals, &signal);
  tally::obs::LogInfo("stop signal, draining", {{"signal", signal}});
  if (!(*server)->Shutdown(
          absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)))) {
    tally::obs::LogWarning("requests still running after the grace period");
    // Their threads still run; skip destructors that would race them.
    std::_Exit(0);
  }
  tally::obs::LogInfo("stopped");
  return 0;
}
