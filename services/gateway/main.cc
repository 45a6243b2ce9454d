// tally-gateway: the HTTP face of the feed. JSON reads and Server-Sent
// Events for browsers, and the live results page. The run loop is
// services/server/run.h; this file maps the gateway's flags.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "services/gateway/server.h"
#include "services/rpc/replicas.h"
#include "services/security/tls_flags.h"
#include "services/server/run.h"

#ifndef TALLY_WEB_DIR
#define TALLY_WEB_DIR "clients/web"
#endif

ABSL_FLAG(std::string, listen, "127.0.0.1:8080",
          "address to serve HTTP on (host:port; port 0 picks a free one)");
ABSL_FLAG(std::string, upstream, "127.0.0.1:7400",
          "aggregator for elections, results and health (host:port), or "
          "its replicas separated by commas (reads use any)");
ABSL_FLAG(std::string, feed, "",
          "Feed service for /v1/watch: the aggregator or a tally-relay "
          "(host:port, or a list); default: --upstream");
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

namespace {

using tally::gateway::GatewayConfig;
using tally::gateway::GatewayServer;

absl::StatusOr<GatewayConfig> ConfigFromFlags() {
  GatewayConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.upstream = absl::GetFlag(FLAGS_upstream);
  config.feed = absl::GetFlag(FLAGS_feed);
  for (const auto& [flag, value] : {std::pair<const char*, const std::string*>{
                                        "--upstream", &config.upstream},
                                    {"--feed", &config.feed}}) {
    if (value->empty()) continue;
    if (absl::StatusOr<std::vector<std::string>> list =
            tally::rpc::ParseAddressList(*value, flag);
        !list.ok()) {
      return list.status();
    }
  }
  config.web_dir = absl::GetFlag(FLAGS_web_dir);
  // HTTP itself is plain: browsers' TLS ends at the ingress in front.
  auto credentials = tally::security::MakeChannelCredentials(
      tally::security::ClientTlsFromFlags());
  if (!credentials.ok()) return credentials.status();
  config.upstream_credentials = *credentials;
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
    return absl::InvalidArgumentError(
        "--rpc_timeout_ms, --keepalive_ms and --watch_deadline_s must be "
        "positive");
  }
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  return tally::server::Run<GatewayConfig, GatewayServer>(
      argc, argv,
      {.name = "tally-gateway",
       .usage =
           "tally-gateway [--listen HOST:PORT] [--upstream HOST:PORT[,...]] "
           "[--feed HOST:PORT[,...]] [--web_dir DIR] (--tls_ca PEM | "
           "--insecure)",
       .config_from_flags = ConfigFromFlags,
       .serving_fields = [](const GatewayServer&, const GatewayConfig& config)
           -> std::vector<tally::obs::LogField> {
         return {{"upstream", config.upstream}};
       }});
}
