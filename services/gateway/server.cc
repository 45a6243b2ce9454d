#include "services/gateway/server.h"

#include <algorithm>
#include <cstdio>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "services/common/echo.h"
#include "services/domain/nist_cdf.h"
#include "services/gateway/http_cache.h"
#include "services/gateway/http_json.h"
#include "services/gateway/query_params.h"
#include "services/gateway/static_files.h"
#include "services/gateway/task_pool.h"
#include "services/gateway/upstream.h"
#include "services/observability/metrics.h"
#include "services/observability/server_telemetry.h"

namespace tally::gateway {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kNistCdfPath[] = "/v1/export/nist-cdf.json";

struct ListenAddress {
  std::string host;  // as given, brackets kept for IPv6
  std::string bind_host;
  int port = 0;
};

absl::StatusOr<ListenAddress> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  ListenAddress out;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &out.port) || out.port < 0 ||
      out.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen must be HOST:PORT (port 0 picks one), not \"", listen, "\""));
  }
  out.host = listen.substr(0, colon);
  out.bind_host = out.host;
  if (out.bind_host.size() > 2 && out.bind_host.front() == '[' &&
      out.bind_host.back() == ']') {
    out.bind_host = out.bind_host.substr(1, out.bind_host.size() - 2);
  }
  return out;
}

void SetJsonError(httplib::Response& response, int status,
                  absl::string_view message) {
  response.status = status;
  response.set_header("Cache-Control",
                      std::string(CacheControlOf(CachePolicy::kNoStore)));
  response.set_content(ErrorJson(message), kJson);
}

// A cacheable answer (http_cache.h): `body` with its ETag at `revision`
// and the Cache-Control of `policy`, or 304 without a body when the
// request's If-None-Match names that ETag.
void SetCacheable(const httplib::Request& request, httplib::Response& response,
                  CachePolicy policy, uint64_t revision, std::string body,
                  const char* content_type) {
  const std::string etag = EntityTag(revision, body);
  response.set_header("ETag", etag);
  response.set_header("Cache-Control", std::string(CacheControlOf(policy)));
  if (request.has_header("If-None-Match") &&
      IfNoneMatchHits(request.get_header_value("If-None-Match"), etag)) {
    // No body. httplib states "Content-Length: 0", which caches and
    // browsers ignore on a 304; the length of the 200 instead (which RFC
    // 9110 section 8.6 allows) would make httplib's own client, and any
    // other that reads a 304's body by its length, wait for bytes that
    // never come.
    response.status = 304;
    return;
  }
  response.status = 200;
  response.set_content(std::move(body), content_type);
}

// The JSON of `message`, the state at `revision`, as SetCacheable.
void SetJson(const httplib::Request& request, httplib::Response& response,
             const google::protobuf::Message& message, uint64_t revision,
             CachePolicy policy = CachePolicy::kLatest) {
  std::string json;
  if (!MessageJson(message, &json)) {
    response.status = 500;
    response.set_header("Cache-Control",
                        std::string(CacheControlOf(CachePolicy::kNoStore)));
    response.set_content(json, kJson);
    return;
  }
  SetCacheable(request, response, policy, revision, std::move(json), kJson);
}

// A failed call to the aggregator, as an HTTP error (Upstream::NoteCall
// worded it and logged an unreachable aggregator).
void SetGrpcError(httplib::Response& response,
                  const Upstream::Outcome& outcome) {
  SetJsonError(response, HttpStatusFor(outcome.status.error_code()),
               outcome.error);
}

}  // namespace

struct GatewayServer::Parts {
  // Declared first so that it is destroyed last: scrapes read every part.
  obs::ServerTelemetry telemetry{"tally-gateway"};
  GatewayConfig config;
  std::unique_ptr<Upstream> upstream;
  std::unique_ptr<WatchSessions> watches;
  httplib::Server http;
  std::thread listener;
  absl::Notification listener_done;
  ListenAddress address;
  bool stopped = false;

  void Route(const httplib::Request& request, httplib::Response& response);
  // Counts a finished routing decision by endpoint and HTTP status.
  void CountRequest(const httplib::Request& request,
                    const httplib::Response& response);
  void Election(const httplib::Request& request, httplib::Response& response);
  void Results(const httplib::Request& request, httplib::Response& response);
  // The transparency log: the signed head (JSON), its C2SP checkpoint
  // (text), a station's inclusion proof (JSON).
  void TreeHead(const httplib::Request& request, httplib::Response& response,
                bool checkpoint);
  void Forensics(const httplib::Request& request, httplib::Response& response);
  // The current revision as a NIST SP 1500-100 v2 ElectionReport
  // (services/domain/nist_cdf.h), as `tallyctl export --format nist-cdf`.
  void ExportNistCdf(const httplib::Request& request,
                     httplib::Response& response);
  void Proof(const httplib::Request& request, httplib::Response& response);
  void Health(httplib::Response& response);
  void Static(const httplib::Request& request, httplib::Response& response);
};

void GatewayServer::Parts::Route(const httplib::Request& request,
                                 httplib::Response& response) {
  const std::string& path = request.path;
  const bool head = request.method == "HEAD";
  if (request.method != "GET" && !head) {
    response.set_header("Allow", "GET, HEAD");
    SetJsonError(response, 405,
                 absl::StrCat("method ", common::Echo(request.method),
                              " not allowed: the gateway is read-only"));
    return;
  }
  if (path == "/v1/election") return Election(request, response);
  if (path == "/v1/results") return Results(request, response);
  if (path == "/v1/forensics") return Forensics(request, response);
  if (path == kNistCdfPath) return ExportNistCdf(request, response);
  if (path == "/v1/tree-head") return TreeHead(request, response, false);
  if (path == "/v1/checkpoint") return TreeHead(request, response, true);
  if (path == "/v1/proof") return Proof(request, response);
  if (path == "/v1/watch") {
    if (head) {
      response.set_header("Allow", "GET");
      return SetJsonError(response, 405, "/v1/watch is GET only");
    }
    return watches->Serve(request, response);
  }
  if (path == "/healthz") return Health(response);
  if (path == "/v1" || absl::StartsWith(path, "/v1/")) {
    return SetJsonError(response, 404,
                        absl::StrCat("no endpoint ", common::Echo(path),
                                     "; the API has /v1/election, "
                                     "/v1/results, /v1/forensics, /v1/watch, "
                                     "/v1/tree-head, /v1/checkpoint, "
                                     "/v1/proof and /v1/export/nist-cdf.json"));
  }
  Static(request, response);
}

void GatewayServer::Parts::Election(const httplib::Request& request,
                                    httplib::Response& response) {
  absl::StatusOr<v1::GetElectionRequest> call =
      ElectionRequestFrom(request.params);
  if (!call.ok()) return SetJsonError(response, 400, call.status().message());
  v1::GetElectionResponse answer;
  const Upstream::Outcome outcome = upstream->CallAggregator(
      [&](v1::Aggregator::Stub& stub, grpc::ClientContext* context) {
        answer.Clear();
        return stub.GetElection(context, *call, &answer);
      });
  if (!outcome.status.ok()) return SetGrpcError(response, outcome);
  SetJson(request, response, answer, answer.revision());
}

void GatewayServer::Parts::Results(const httplib::Request& request,
                                   httplib::Response& response) {
  absl::StatusOr<v1::GetResultsRequest> call =
      ResultsRequestFrom(request.params);
  if (!call.ok()) return SetJsonError(response, 400, call.status().message());
  v1::GetResultsResponse answer;
  const Upstream::Outcome outcome = upstream->CallAggregator(
      [&](v1::Aggregator::Stub& stub, grpc::ClientContext* context) {
        answer.Clear();
        return stub.GetResults(context, *call, &answer);
      });
  if (!outcome.status.ok()) return SetGrpcError(response, outcome);
  // The figures of a revision named in the URL never change.
  SetJson(request, response, answer, answer.revision(),
          call->revision() != 0 ? CachePolicy::kPinned : CachePolicy::kLatest);
}

void GatewayServer::Parts::Forensics(const httplib::Request& request,
                                     httplib::Response& response) {
  absl::StatusOr<v1::GetForensicsRequest> call =
      ForensicsRequestFrom(request.params);
  if (!call.ok()) return SetJsonError(response, 400, call.status().message());
  v1::GetForensicsResponse answer;
  const Upstream::Outcome outcome = upstream->CallAggregator(
      [&](v1::Aggregator::Stub& stub, grpc::ClientContext* context) {
        answer.Clear();
        return stub.GetForensics(context, *call, &answer);
      });
  if (!outcome.status.ok()) return SetGrpcError(response, outcome);
  SetJson(request, response, answer, answer.forensics().revision());
}

void GatewayServer::Parts::ExportNistCdf(const httplib::Request& request,
                                         httplib::Response& response) {
  absl::StatusOr<nist::ExportLevel> level = ExportLevelFrom(request.params);
  if (!level.ok()) return SetJsonError(response, 400, level.status().message());
  const bool stations = *level == nist::ExportLevel::kStation;
  v1::GetElectionRequest election_request;
  election_request.set_include_stations(stations);
  v1::GetElectionResponse election;
  Upstream::Outcome outcome = upstream->CallAggregator(
      [&](v1::Aggregator::Stub& stub, grpc::ClientContext* context) {
        election.Clear();
        return stub.GetElection(context, election_request, &election);
      });
  if (!outcome.status.ok()) return SetGrpcError(response, outcome);
  v1::GetResultsRequest results_request;
  results_request.set_all_scopes(true);
  v1::GetResultsResponse results;
  outcome = upstream->CallAggregator(
      [&](v1::Aggregator::Stub& stub, grpc::ClientContext* context) {
        results.Clear();
        return stub.GetResults(context, results_request, &results);
      });
  if (!outcome.status.ok()) return SetGrpcError(response, outcome);

  // The station level: each station's counted protocols from the
  // transparency log, up to the tree size of the revision the totals are
  // of, so that the whole report is of one revision.
  nist::StationProtocols protocols;
  if (stations && results.revision() > 0) {
    v1::GetTreeHeadRequest head_request;
    head_request.set_revision(results.revision());
    v1::GetTreeHeadResponse head;
    outcome = upstream->CallLog(
        [&](v1::Log::Stub& stub, grpc::ClientContext* context) {
          head.Clear();
          return stub.GetTreeHead(context, head_request, &head);
        });
    if (!outcome.status.ok()) return SetGrpcError(response, outcome);
    const uint64_t tree_size = head.signed_head().head().tree_size();
    uint64_t next = 0;
    while (next < tree_size) {
      v1::GetLeavesRequest leaves_request;
      leaves_request.set_start(next);
      leaves_request.set_end(tree_size);
      v1::GetLeavesResponse leaves;
      outcome = upstream->CallLog(
          [&](v1::Log::Stub& stub, grpc::ClientContext* context) {
            leaves.Clear();
            return stub.GetLeaves(context, leaves_request, &leaves);
          });
      if (!outcome.status.ok()) return SetGrpcError(response, outcome);
      if (leaves.leaf_data_size() == 0) {
        return SetJsonError(response, 502,
                            absl::StrCat("the log served no leaf at ", next,
                                         " of a tree of ", tree_size));
      }
      for (const std::string& leaf : leaves.leaf_data()) {
        if (absl::Status added = protocols.AddLeaf(leaf); !added.ok()) {
          return SetJsonError(response, 502, added.message());
        }
      }
      next += static_cast<uint64_t>(leaves.leaf_data_size());
    }
  }

  nist::ExportInput input = nist::MakeExportInput(election.definition(),
                                                  &results, *level, &protocols);
  input.generated = absl::Now();
  input.pretty = false;
  absl::StatusOr<std::string> json = nist::NistCdfJson(input);
  if (!json.ok()) return SetJsonError(response, 500, json.status().message());
  // Latest state, like /v1/results: an edge may keep it for a second, which
  // matters most here (a station-level report reads the whole log). Its
  // GeneratedDate makes every answer's bytes, hence its ETag, new.
  SetCacheable(request, response, CachePolicy::kLatest, results.revision(),
               std::move(*json), kJson);
}

void GatewayServer::Parts::TreeHead(const httplib::Request& request,
                                    httplib::Response& response,
                                    bool checkpoint) {
  absl::StatusOr<v1::GetTreeHeadRequest> call =
      TreeHeadRequestFrom(request.params);
  if (!call.ok()) return SetJsonError(response, 400, call.status().message());
  v1::GetTreeHeadResponse answer;
  const Upstream::Outcome outcome =
      upstream->CallLog([&](v1::Log::Stub& stub, grpc::ClientContext* context) {
        answer.Clear();
        return stub.GetTreeHead(context, *call, &answer);
      });
  if (!outcome.status.ok()) return SetGrpcError(response, outcome);
  // Even the head of a past revision gains witness cosignatures later: the
  // latest-state policy.
  const uint64_t revision = answer.signed_head().head().revision();
  if (!checkpoint) return SetJson(request, response, answer, revision);
  // The C2SP signed note as it is, for verifiers and witnesses that speak
  // the format.
  SetCacheable(request, response, CachePolicy::kLatest, revision,
               answer.checkpoint(), "text/plain; charset=utf-8");
}

void GatewayServer::Parts::Proof(const httplib::Request& request,
                                 httplib::Response& response) {
  absl::StatusOr<v1::GetInclusionProofRequest> call =
      ProofRequestFrom(request.params);
  if (!call.ok()) return SetJsonError(response, 400, call.status().message());
  v1::GetInclusionProofResponse answer;
  const Upstream::Outcome outcome =
      upstream->CallLog([&](v1::Log::Stub& stub, grpc::ClientContext* context) {
        answer.Clear();
        return stub.GetInclusionProof(context, *call, &answer);
      });
  if (!outcome.status.ok()) return SetGrpcError(response, outcome);
  SetJson(request, response, answer, answer.signed_head().head().revision());
}

void GatewayServer::Parts::CountRequest(const httplib::Request& request,
                                        const httplib::Response& response) {
  // A fixed set of endpoint labels: paths come from clients and must not
  // create series.
  const std::string& path = request.path;
  const char* endpoint = "static";
  if (path == "/v1/election") {
    endpoint = "election";
  } else if (path == "/v1/results") {
    endpoint = "results";
  } else if (path == "/v1/forensics") {
    endpoint = "forensics";
  } else if (path == kNistCdfPath) {
    endpoint = "export_nist_cdf";
  } else if (path == "/v1/watch") {
    endpoint = "watch";
  } else if (path == "/v1/tree-head") {
    endpoint = "tree_head";
  } else if (path == "/v1/checkpoint") {
    endpoint = "checkpoint";
  } else if (path == "/v1/proof") {
    endpoint = "proof";
  } else if (path == "/healthz") {
    endpoint = "healthz";
  } else if (path == "/v1" || absl::StartsWith(path, "/v1/")) {
    endpoint = "unknown";
  }
  telemetry.metrics()
      .AddCounter(
          "tally_http_requests_total",
          "HTTP requests by endpoint and status code (an SSE stream "
          "counts once, when it opens).",
          {{"endpoint", endpoint}, {"code", absl::StrCat(response.status)}})
      ->Increment();
}

void GatewayServer::Parts::Health(httplib::Response& response) {
  const Upstream::Outcome outcome = upstream->CheckHealth();
  const grpc::Status& status = outcome.status;
  const std::string& error = outcome.error;
  response.set_header("Cache-Control",
                      std::string(CacheControlOf(CachePolicy::kNoStore)));
  if (status.ok()) {
    response.status = 200;
    response.set_content("ok", "text/plain");
    return;
  }
  response.status = 503;
  response.set_content(
      absl::StrCat("upstream ", config.upstream, " not serving: ", error),
      "text/plain");
}

void GatewayServer::Parts::Static(const httplib::Request& request,
                                  httplib::Response& response) {
  absl::StatusOr<StaticFile> file =
      LoadStaticFile(config.web_dir, request.path);
  if (!file.ok()) {
    // Refused and missing paths look the same: nothing about the file
    // system outside the page leaks.
    response.status = 404;
    response.set_content("not found\n", "text/plain");
    return;
  }
  response.status = 200;
  response.set_header("Cache-Control", "no-cache");
  response.set_content(std::move(file->content), file->content_type);
}

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Start(
    const GatewayConfig& config) {
  absl::StatusOr<ListenAddress> address = ParseListen(config.listen);
  if (!address.ok()) return address.status();
  if (config.upstream.empty()) {
    return absl::InvalidArgumentError("--upstream is required");
  }
  auto parts = std::make_unique<Parts>();
  parts->config = config;
  if (parts->config.feed.empty()) parts->config.feed = config.upstream;
  parts->address = *address;
  parts->upstream = std::make_unique<Upstream>(
      parts->config.upstream, parts->config.feed, config.rpc_timeout,
      config.upstream_credentials);
  parts->watches =
      std::make_unique<WatchSessions>(parts->upstream.get(), config.watch);

  httplib::Server& http = parts->http;
  const size_t max_threads = config.watch.max_clients + config.http_workers;
  http.new_task_queue = [max_threads] {
    return new GrowingTaskPool(max_threads);
  };
  http.set_tcp_nodelay(true);  // SSE frames are small and must not wait
  // Idle keep-alive connections hold a worker; a short timeout returns it
  // soon and bounds how long a shutdown waits for them.
  http.set_keep_alive_timeout(2);
  http.set_read_timeout(5, 0);
  http.set_write_timeout(5, 0);
  http.set_payload_max_length(64 << 10);  // no endpoint takes a body
  Parts* raw = parts.get();
  http.set_pre_routing_handler([raw](const httplib::Request& request,
                                     httplib::Response& response) {
    raw->Route(request, response);
    // No error is ever cached, whichever part answered it.
    if (response.status >= 400) {
      response.headers.erase("Cache-Control");
      response.set_header("Cache-Control",
                          std::string(CacheControlOf(CachePolicy::kNoStore)));
    }
    raw->CountRequest(request, response);
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_exception_handler([](const httplib::Request&,
                                httplib::Response& response,
                                std::exception_ptr) {
    SetJsonError(response, 500, "internal error");
  });

  if (address->port == 0) {
    const int port = http.bind_to_any_port(address->bind_host);
    if (port <= 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", config.listen));
    }
    parts->address.port = port;
  } else if (!http.bind_to_port(address->bind_host, address->port)) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen));
  }
  parts->listener = std::thread([raw] {
    raw->http.listen_after_bind();
    raw->listener_done.Notify();
  });
  // stop() only takes effect once the accept loop runs.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!http.is_running() && !parts->listener_done.HasBeenNotified()) {
    if (absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(1));
  }
  if (!http.is_running()) {
    http.stop();
    parts->listener.join();
    return absl::UnavailableError(
        absl::StrCat("cannot serve on ", config.listen));
  }
  parts->telemetry.metrics().AddGaugeCallback(
      "tally_sse_clients", "Open /v1/watch Server-Sent Events streams.",
      [raw] { return static_cast<double>(raw->watches->open_streams()); });
  if (absl::Status admin = parts->telemetry.StartAdmin(config.admin_listen);
      !admin.ok()) {
    http.stop();
    parts->listener.join();
    return admin;
  }
  parts->telemetry.set_serving(true);
  return std::unique_ptr<GatewayServer>(new GatewayServer(std::move(parts)));
}

GatewayServer::GatewayServer(std::unique_ptr<Parts> parts)
    : parts_(std::move(parts)) {}

GatewayServer::~GatewayServer() { Shutdown(absl::Seconds(5)); }

std::string GatewayServer::address() const {
  return absl::StrCat(parts_->address.host, ":", parts_->address.port);
}

std::string GatewayServer::admin_address() const {
  return parts_->telemetry.admin_address();
}

std::string GatewayServer::Describe() const {
  return absl::StrCat("serving on ", address(), " for upstream ",
                      parts_->config.upstream, ", feed ", parts_->config.feed,
                      ", web directory ", parts_->config.web_dir);
}

bool GatewayServer::Shutdown(absl::Duration grace) {
  if (parts_ == nullptr || parts_->stopped) return true;
  parts_->stopped = true;
  parts_->telemetry.set_serving(false);
  const absl::Time deadline = absl::Now() + grace;
  // The accept loop stops first, so that workers close each connection
  // after its current response instead of waiting for another request;
  // ending the upstream watches then ends the SSE responses.
  parts_->http.stop();
  parts_->watches->Stop();
  if (!parts_->listener_done.WaitForNotificationWithDeadline(deadline)) {
    // A worker is stuck on a client. Its thread still uses the parts, so
    // they stay allocated until the process exits.
    parts_->listener.detach();
    static_cast<void>(parts_.release());
    return false;
  }
  parts_->listener.join();
  const bool idle = parts_->watches->WaitIdle(
      std::max(deadline - absl::Now(), absl::Milliseconds(100)));
  parts_->telemetry.Stop();
  return idle;
}

}  // namespace tally::gateway
