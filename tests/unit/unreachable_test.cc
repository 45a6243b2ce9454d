// Words for a server that cannot be reached (services/rpc/unreachable.h),
// from the statuses gRPC 1.51 reports for each cause.
#include "services/rpc/unreachable.h"

#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tally::rpc {
namespace {

using Kind = Unreachable::Kind;

grpc::Status Unavailable(const std::string& message) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, message);
}

TEST(UnreachableTest, TransportFailuresAreNamed) {
  struct Case {
    std::string message;
    Kind kind;
    std::string reason;
  };
  const Case cases[] = {
      {"failed to connect to all addresses; last error: UNKNOWN: "
       "ipv4:127.0.0.1:1: Failed to connect to remote host: Connection "
       "refused",
       Kind::kAddress, "connection refused"},
      {"DNS resolution failed for no-such-host.invalid:7400: C-ares status "
       "is not ARES_SUCCESS qtype=A name=no-such-host.invalid is_balancer=0: "
       "Domain name not found",
       Kind::kAddress, "unknown host"},
      {"failed to connect to all addresses; last error: UNKNOWN: "
       "ipv4:127.0.0.1:7400: Ssl handshake failed: SSL_ERROR_SSL: "
       "error:0A00010B:SSL routines::wrong version number",
       Kind::kTls, "TLS handshake failed: the server may run without TLS"},
      {"failed to connect to all addresses; last error: UNKNOWN: "
       "ipv4:127.0.0.1:7400: Ssl handshake failed: SSL_ERROR_SSL: "
       "error:0A000086:SSL routines::certificate verify failed",
       Kind::kTls, "its TLS certificate is not signed by a trusted CA"},
      {"failed to connect to all addresses; last error: UNAVAILABLE: "
       "ipv4:127.0.0.1:7400: Socket closed",
       Kind::kTls,
       "the connection closed before the first call: the server may "
       "require TLS"},
      {"failed to connect to all addresses; last error: UNKNOWN: something "
       "new",
       Kind::kAddress, "cannot connect"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    const std::optional<Unreachable> found = Diagnose(Unavailable(c.message));
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->kind, c.kind);
    EXPECT_EQ(found->reason, c.reason);
  }
}

TEST(UnreachableTest, AServersOwnErrorIsNotUnreachable) {
  EXPECT_FALSE(
      Diagnose(Unavailable("the relay has no complete snapshot from its "
                           "upstream yet; retry shortly"))
          .has_value());
  EXPECT_FALSE(Diagnose(Unavailable("Socket closed")).has_value());
  EXPECT_FALSE(
      Diagnose(grpc::Status(grpc::StatusCode::NOT_FOUND, "Connection refused"))
          .has_value());
  // Without the channel, a deadline is the server's.
  EXPECT_FALSE(
      Diagnose(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline"))
          .has_value());
  EXPECT_FALSE(Diagnose(grpc::Status::OK).has_value());
}

TEST(UnreachableTest, SentencesNameTheAddressAndWhatToCheck) {
  const Unreachable refused{Kind::kAddress, "connection refused"};
  EXPECT_EQ(NoServerAt("aggregator", "127.0.0.1:7400", refused),
            "no aggregator at 127.0.0.1:7400 (connection refused)");
  EXPECT_EQ(UpstreamHint(refused, "--aggregator"),
            "start it, or check --aggregator");
  const Unreachable plain{Kind::kTls,
                          "TLS handshake failed: the server may run "
                          "without TLS"};
  EXPECT_EQ(TlsHint(plain, /*insecure=*/false),
            "pass --insecure if it runs without TLS");
  const Unreachable closed{Kind::kTls,
                           "the connection closed before the first call: "
                           "the server may require TLS"};
  EXPECT_EQ(TlsHint(closed, /*insecure=*/true),
            "pass --tls_ca instead of --insecure if it runs TLS");
  EXPECT_THAT(UpstreamHint(closed, "--upstream"),
              ::testing::HasSubstr("--tls_ca"));
}

}  // namespace
}  // namespace tally::rpc
