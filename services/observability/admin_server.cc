#include "services/observability/admin_server.h"

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tally::obs {
namespace {

constexpr char kMetricsType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(
    const std::string& listen, const MetricsRegistry* registry,
    std::function<bool()> healthy, std::function<std::string()> degraded) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--admin_listen must be HOST:PORT (port 0 picks one), not \"", listen,
        "\""));
  }
  const std::string host = listen.substr(0, colon);
  std::string bind_host = host;
  if (bind_host.size() > 2 && bind_host.front() == '[' &&
      bind_host.back() == ']') {
    bind_host = bind_host.substr(1, bind_host.size() - 2);
  }

  std::unique_ptr<AdminServer> server(new AdminServer());
  server->http_ = std::make_unique<httplib::Server>();
  httplib::Server& http = *server->http_;
  // Scrapes and probes are small and rare: two workers, short timeouts, so
  // a slow client cannot hold the endpoint.
  http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  http.set_read_timeout(5, 0);
  http.set_write_timeout(5, 0);
  http.set_keep_alive_max_count(100);
  http.Get("/metrics",
           [registry](const httplib::Request&, httplib::Response& response) {
             response.set_content(registry->Render(), kMetricsType);
           });
  http.Get("/healthz", [healthy, degraded](const httplib::Request&,
                                           httplib::Response& response) {
    const bool ok = !healthy || healthy();
    response.status = ok ? 200 : 503;
    std::string body = ok ? "ok\n" : "unavailable\n";
    if (ok && degraded) {
      if (std::string why = degraded(); !why.empty()) {
        body = absl::StrCat("degraded: ", why, "\n");
      }
    }
    response.set_content(body, "text/plain");
  });
  http.set_exception_handler([](const httplib::Request&,
                                httplib::Response& response,
                                std::exception_ptr) { response.status = 500; });

  if (port == 0) {
    port = http.bind_to_any_port(bind_host);
    if (port <= 0) {
      return absl::UnavailableError(
          absl::StrCat("admin endpoint cannot listen on ", listen));
    }
  } else if (!http.bind_to_port(bind_host, port)) {
    return absl::UnavailableError(
        absl::StrCat("admin endpoint cannot listen on ", listen));
  }
  server->address_ = absl::StrCat(host, ":", port);
  auto done = std::make_shared<absl::Notification>();
  server->thread_ = std::thread([&http, done] {
    http.listen_after_bind();
    done->Notify();
  });
  // stop() only takes effect once the accept loop runs.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!http.is_running() && !done->HasBeenNotified() &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  if (!http.is_running()) {
    server->Stop();
    return absl::UnavailableError(
        absl::StrCat("admin endpoint cannot serve on ", listen));
  }
  return server;
}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Stop() {
  if (stopped_.exchange(true)) return;
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace tally::obs
