// The security library's file formats and checks, without a network:
// station token files (digests only, client names, station lists), the
// bearer header, collector identity files, and TLS flag combinations.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/security/collector_identities.h"
#include "services/security/station_tokens.h"
#include "services/security/tls_credentials.h"

namespace tally::security {
namespace {

using ::testing::HasSubstr;

TEST(StationTokensTest, Sha256HexMatchesTheStandardVector) {
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(StationTokensTest, AuthenticatesByDigestAndChecksStations) {
  absl::StatusOr<StationTokens> tokens = StationTokens::Parse(
      "# comment\n" + Sha256Hex("secret-1") + " desk-1 *\n" +
          Sha256Hex("secret-2") + "\tdesk-2\t101,102  # two stations\n",
      "tokens.txt");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 2u);

  absl::StatusOr<const StationClient*> one =
      tokens->Authenticate("Bearer secret-1");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ((*one)->name, "desk-1");
  EXPECT_TRUE((*one)->MaySubmit(999));

  absl::StatusOr<const StationClient*> two =
      tokens->Authenticate("Bearer secret-2");
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ((*two)->name, "desk-2");
  EXPECT_TRUE((*two)->MaySubmit(102));
  EXPECT_FALSE((*two)->MaySubmit(103));

  for (const char* bad :
       {"", "Bearer ", "Bearer secret-3", "secret-1", "Basic secret-1"}) {
    absl::StatusOr<const StationClient*> refused = tokens->Authenticate(bad);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  }
}

TEST(StationTokensTest, FileErrorsNameTheLineAndTheRule) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::string digest = Sha256Hex("x");
  const Case cases[] = {
      {"plain-token desk *\n",
       "tokens.txt:1: the first field must be a "
       "SHA-256 digest"},
      {digest + " desk\n", "tokens.txt:1: expected"},
      {"\n" + digest + " desk 1,x\n", "tokens.txt:2: station \"x\""},
      {digest + " a *\n" + digest + " b *\n", "tokens.txt:2: the same token"},
      {"# nothing\n", "no station client tokens"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<StationTokens> tokens =
        StationTokens::Parse(c.text, "tokens.txt");
    ASSERT_FALSE(tokens.ok()) << c.text;
    EXPECT_THAT(tokens.status().message(), HasSubstr(c.expected)) << c.text;
  }
}

TEST(CollectorIdentitiesTest, ParsesAndRefusesBadFiles) {
  absl::StatusOr<CollectorIdentities> identities = CollectorIdentities::Parse(
      "# identity region id\ncollector-a a\ncollector-b b custom-b\n", "ids");
  ASSERT_TRUE(identities.ok()) << identities.status();
  EXPECT_EQ(identities->size(), 2u);
  // Without an authenticated peer there is no identity.
  absl::StatusOr<CollectorIdentity> none = identities->Authorize(nullptr);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);

  for (const char* bad : {"collector-a\n", "a b c d\n", "x a\nx b\n", ""}) {
    EXPECT_FALSE(CollectorIdentities::Parse(bad, "ids").ok()) << bad;
  }
}

TEST(TlsCredentialsTest, PlainTextMustBeExplicitAndAlone) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> none =
      MakeServerCredentials({});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("--insecure"));
  EXPECT_THAT(none.status().message(), HasSubstr("--tls_cert"));

  ServerTlsOptions both;
  both.insecure = true;
  both.cert_file = "server.pem";
  EXPECT_FALSE(MakeServerCredentials(both).ok());

  ServerTlsOptions insecure;
  insecure.insecure = true;
  EXPECT_TRUE(MakeServerCredentials(insecure).ok());

  ServerTlsOptions missing;
  missing.cert_file = "/nonexistent/server.pem";
  missing.key_file = "/nonexistent/server.key";
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> unreadable =
      MakeServerCredentials(missing);
  ASSERT_FALSE(unreadable.ok());
  EXPECT_THAT(unreadable.status().message(),
              HasSubstr("--tls_cert /nonexistent/server.pem"));

  ClientTlsOptions half;
  half.cert_file = "client.pem";
  EXPECT_FALSE(MakeChannelCredentials(half).ok());
}

}  // namespace
}  // namespace tally::security
