#include "clients/tallyctl/grpc_client.h"

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "services/domain/proto_json.h"
#include "services/rpc/channel.h"
#include "services/rpc/status.h"
#include "services/rpc/unreachable.h"
#include "services/security/station_tokens.h"
#include "services/security/tls_credentials.h"
#include "services/security/tls_flags.h"

ABSL_FLAG(std::string, aggregator, "127.0.0.1:7400",
          "address of the aggregator (or of a relay, for watch); or the "
          "replicas of a replicated aggregator, separated by commas (any of "
          "them answers)");
ABSL_FLAG(uint32_t, timeout_ms, 10000, "deadline of each call");
ABSL_FLAG(bool, json, false, "print JSON (watch: one object per line)");
ABSL_FLAG(std::string, contest, "",
          "contest id (watch: comma-separated list; empty: all)");
ABSL_FLAG(std::string, scope, "",
          "national, region/<id> or district/<id> (watch: comma-separated)");
ABSL_FLAG(std::string, token_file, "",
          "submit, simulate: file holding the station client token; "
          "default: the environment variable TALLY_TOKEN");

namespace tally::cli {
namespace {

// Set once by ConfigureTransport, before any thread starts.
std::shared_ptr<grpc::ChannelCredentials>& Credentials() {
  static auto* credentials = new std::shared_ptr<grpc::ChannelCredentials>();
  return *credentials;
}

std::string& Token() {
  static auto* token = new std::string();
  return *token;
}

}  // namespace

absl::Status ConfigureTransport() {
  auto credentials =
      security::MakeChannelCredentials(security::ClientTlsFromFlags());
  if (!credentials.ok()) return credentials.status();
  Credentials() = *credentials;
  auto token =
      security::ReadToken(absl::GetFlag(FLAGS_token_file), "TALLY_TOKEN");
  if (!token.ok()) return token.status();
  Token() = *token;
  return absl::OkStatus();
}

void AddStationToken(grpc::ClientContext* context) {
  if (!Token().empty()) {
    context->AddMetadata("authorization", "Bearer " + Token());
  }
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  if (Credentials() == nullptr) {
    Credentials() = grpc::SslCredentials(grpc::SslCredentialsOptions());
  }
  rpc::ChannelOptions options;
  options.credentials = Credentials();
  return rpc::MakeChannel(address, options);
}

std::unique_ptr<grpc::ClientContext> CallContext(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

std::unique_ptr<grpc::ClientContext> CallContext() {
  return CallContext(absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms)));
}

ServerRef AggregatorRef(const std::string& what) {
  return ServerRef{what, absl::GetFlag(FLAGS_aggregator),
                   "start one, or pass --aggregator HOST:PORT"};
}

rpc::Replicas& AggregatorReplicas() {
  static rpc::Replicas* replicas = [] {
    const std::string list = absl::GetFlag(FLAGS_aggregator);
    if (Credentials() == nullptr) {
      Credentials() = grpc::SslCredentials(grpc::SslCredentialsOptions());
    }
    return new rpc::Replicas(rpc::ParseAddressList(list, "--aggregator")
                                 .value_or(std::vector<std::string>{list}),
                             {.credentials = Credentials()});
  }();
  return *replicas;
}

grpc::Status CallAggregator(
    const std::function<grpc::Status(v1::Aggregator::Stub& stub)>& call,
    CallTarget* used) {
  rpc::Replicas& replicas = AggregatorReplicas();
  grpc::Status status;
  for (size_t attempt = 0; attempt < replicas.size(); ++attempt) {
    const rpc::Replicas::Target target = replicas.Current();
    used->server = AggregatorRef();
    used->server.address = target.address;
    used->channel = target.channel;
    auto stub = v1::Aggregator::NewStub(target.channel);
    status = call(*stub);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      replicas.Succeeded(target.address);
      return status;
    }
    replicas.Next(target.address);
  }
  return status;
}

std::optional<std::string> DescribeUnreachable(const grpc::Status& status,
                                               const ServerRef& server,
                                               grpc::Channel* channel) {
  std::optional<rpc::Unreachable> unreachable = rpc::Diagnose(status, channel);
  if (!unreachable.has_value()) return std::nullopt;
  const std::string hint =
      unreachable->kind == rpc::Unreachable::Kind::kTls
          ? rpc::TlsHint(*unreachable, security::InsecureFromFlags())
          : server.hint;
  return absl::StrCat(
      rpc::NoServerAt(server.what, server.address, *unreachable), "; ", hint);
}

int ReportFailure(const std::string& command, const grpc::Status& status,
                  const ServerRef& server, grpc::Channel* channel) {
  if (std::optional<std::string> unreachable =
          DescribeUnreachable(status, server, channel)) {
    std::fprintf(stderr, "tallyctl %s: %s\n", command.c_str(),
                 unreachable->c_str());
    return kExitFailure;
  }
  std::fprintf(stderr, "tallyctl %s: %s: %s\n", command.c_str(),
               rpc::CodeName(status.error_code()).c_str(),
               status.error_message().c_str());
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::PERMISSION_DENIED:
      return kExitBadInput;
    default:
      return kExitFailure;
  }
}

grpc::Status FetchElection(v1::GetElectionResponse* election, CallTarget* used,
                           bool include_stations) {
  v1::GetElectionRequest request;
  request.set_include_stations(include_stations);
  return CallAggregator(
      [&](v1::Aggregator::Stub& stub) {
        election->Clear();
        return stub.GetElection(CallContext().get(), request, election);
      },
      used);
}

int PrintJson(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ToJson(message, {.pretty = true});
  if (!json.ok()) {
    std::fprintf(stderr, "tallyctl: %s\n",
                 std::string(json.status().message()).c_str());
    return kExitFailure;
  }
  std::fputs(json->c_str(), stdout);
  return kExitOk;
}

}  // namespace tally::cli
