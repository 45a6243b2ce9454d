#include "clients/tallyctl/grpc_client.h"

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/time/clock.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "services/security/station_tokens.h"
#include "services/security/tls_credentials.h"

ABSL_FLAG(std::string, aggregator, "127.0.0.1:7400",
          "address of the aggregator (or of a relay, for watch)");
ABSL_FLAG(uint32_t, timeout_ms, 10000, "deadline of each call");
ABSL_FLAG(bool, json, false, "print JSON (watch: one object per line)");
ABSL_FLAG(std::string, contest, "",
          "contest id (watch: comma-separated list; empty: all)");
ABSL_FLAG(std::string, scope, "",
          "national, region/<id> or district/<id> (watch: comma-separated)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that verifies the server; default: the system roots");
ABSL_FLAG(bool, insecure, false,
          "plain text (servers started with --insecure, local demos only)");
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
  security::ClientTlsOptions tls;
  tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  tls.insecure = absl::GetFlag(FLAGS_insecure);
  auto credentials = security::MakeChannelCredentials(tls);
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
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  // Matches the servers: ping every 20 s, at most every 10 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  if (Credentials() == nullptr) {
    Credentials() = grpc::SslCredentials(grpc::SslCredentialsOptions());
  }
  return grpc::CreateCustomChannel(address, Credentials(), args);
}

std::unique_ptr<grpc::ClientContext> CallContext(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

std::unique_ptr<grpc::ClientContext> CallContext() {
  return CallContext(absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms)));
}

namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

int ReportFailure(const std::string& command, const grpc::Status& status) {
  std::fprintf(stderr, "tallyctl %s: %s: %s\n", command.c_str(),
               CodeName(status.error_code()), status.error_message().c_str());
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

}  // namespace tally::cli
