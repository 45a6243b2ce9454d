// Keys, key files, signed tree heads, the totals digest and leaf data:
// signatures verify, and any change to what was signed is detected.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/domain/protocol_digest.h"
#include "services/transparency/checkpoint.h"
#include "services/transparency/ed25519.h"
#include "services/transparency/log_appender.h"
#include "services/transparency/log_entry.h"
#include "services/transparency/merkle.h"
#include "services/transparency/note.h"
#include "services/transparency/totals_digest.h"
#include "services/transparency/tree_head.h"

namespace tally::transparency {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/tally-transparency-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(Ed25519Test, SignVerifyAndRefuseChanges) {
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<std::string> signature = key->Sign("message");
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(signature->size(), 64u);
  EXPECT_TRUE(key->public_key().Verify("message", *signature));
  EXPECT_FALSE(key->public_key().Verify("messagf", *signature));
  std::string bad = *signature;
  bad[10] ^= 1;
  EXPECT_FALSE(key->public_key().Verify("message", bad));
  EXPECT_FALSE(key->public_key().Verify("message", bad.substr(1)));
  // Deterministic.
  EXPECT_EQ(*key->Sign("message"), *signature);
  // Key id and fingerprint.
  EXPECT_EQ(key->public_key().KeyId(), Sha256(key->public_key().raw()));
  EXPECT_EQ(key->public_key().Fingerprint().size(), 64u);
  // Raw and PEM forms give the same key back.
  absl::StatusOr<Ed25519PrivateKey> again =
      Ed25519PrivateKey::FromSeed(key->seed());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->public_key(), key->public_key());
  absl::StatusOr<Ed25519PrivateKey> from_pem =
      Ed25519PrivateKey::FromPem(key->ToPem());
  ASSERT_TRUE(from_pem.ok()) << from_pem.status();
  EXPECT_EQ(from_pem->seed(), key->seed());
  absl::StatusOr<Ed25519PublicKey> public_from_pem =
      Ed25519PublicKey::FromPem(key->public_key().ToPem());
  ASSERT_TRUE(public_from_pem.ok()) << public_from_pem.status();
  EXPECT_EQ(*public_from_pem, key->public_key());
  EXPECT_FALSE(Ed25519PublicKey::FromRaw("short").ok());
  EXPECT_FALSE(Ed25519PrivateKey::FromSeed("short").ok());
  EXPECT_FALSE(Ed25519PublicKey::FromPem("garbage").ok());
}

TEST(Ed25519Test, KeyFiles) {
  TempDir dir;
  const std::string path = dir.File("log.key");
  bool created = false;
  absl::StatusOr<Ed25519PrivateKey> key =
      LoadOrCreatePrivateKeyFile(path, &created);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(created);
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  // The second start finds it.
  absl::StatusOr<Ed25519PrivateKey> again =
      LoadOrCreatePrivateKeyFile(path, &created);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(again->seed(), key->seed());
  // Never overwritten.
  EXPECT_EQ(WritePrivateKeyFile(path, *key).code(),
            absl::StatusCode::kAlreadyExists);
  // The public key from the private key file, a PEM public key, and a
  // signed-note verifier key all read as the same key.
  absl::StatusOr<Ed25519PublicKey> public_key = ReadPublicKeyFile(path);
  ASSERT_TRUE(public_key.ok());
  EXPECT_EQ(*public_key, key->public_key());
  WriteText(dir.File("log.pub"), key->public_key().ToPem());
  EXPECT_EQ(*ReadPublicKeyFile(dir.File("log.pub")), key->public_key());
  WriteText(dir.File("log.vkey"),
            FormatVerifierKey(MakeVerifierKey("tally/x", kNoteTypeEd25519,
                                              key->public_key())) +
                "\n");
  EXPECT_EQ(*ReadPublicKeyFile(dir.File("log.vkey")), key->public_key());
  // A signed-note signer key file works as a private key.
  WriteText(dir.File("note.key"),
            FormatSignerKey(NoteSignerKey{"w", kNoteTypeEd25519, *key}));
  EXPECT_EQ(ReadPrivateKeyFile(dir.File("note.key"))->seed(), key->seed());
  // Errors name the file.
  absl::Status status = ReadPrivateKeyFile(dir.File("missing")).status();
  EXPECT_THAT(status.message(), HasSubstr(dir.File("missing")));
  WriteText(dir.File("junk"), "not a key");
  status = ReadPublicKeyFile(dir.File("junk")).status();
  EXPECT_THAT(status.message(), HasSubstr(dir.File("junk")));
  // An RSA or EC key is not accepted.
  WriteText(dir.File("ec.pem"),
            "-----BEGIN PUBLIC KEY-----\n"
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwr\n"
            "kBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==\n"
            "-----END PUBLIC KEY-----\n");
  status = ReadPublicKeyFile(dir.File("ec.pem")).status();
  EXPECT_THAT(status.message(), HasSubstr("not Ed25519"));
}

v1::TreeHead SampleHead() {
  v1::TreeHead head;
  head.set_revision(77);
  head.set_tree_size(1234);
  head.set_root_hash(HashBytes(HashLeaf("root")));
  head.set_totals_digest(HashBytes(HashLeaf("totals")));
  head.set_definition_digest(HashBytes(HashLeaf("definition")));
  head.mutable_timestamp()->set_seconds(1679315147);
  head.mutable_timestamp()->set_nanos(5);
  return head;
}

TEST(TreeHeadTest, EncodingIsFixedAndEveryFieldIsSigned) {
  const v1::TreeHead head = SampleHead();
  absl::StatusOr<std::string> bytes = TreeHeadBytes(head);
  ASSERT_TRUE(bytes.ok());
  ASSERT_EQ(bytes->size(), kTreeHeadBytes);
  EXPECT_EQ(bytes->substr(0, 18), std::string("tally.v1.TreeHead\0", 18));
  EXPECT_EQ(bytes->substr(18, 8), std::string("\0\0\0\0\0\0\0\x4d", 8));
  EXPECT_EQ(bytes->substr(34, 32), head.root_hash());
  EXPECT_EQ(bytes->substr(138, 4), std::string("\0\0\0\x05", 4));

  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<v1::SignedTreeHead> signed_head = SignTreeHead(head, *key);
  ASSERT_TRUE(signed_head.ok());
  EXPECT_TRUE(VerifySignedTreeHead(*signed_head, key->public_key()).ok());
  EXPECT_EQ(signed_head->key_id(), key->public_key().KeyId());

  // Each field changed alone breaks the signature.
  std::vector<v1::SignedTreeHead> changed(7, *signed_head);
  changed[0].mutable_head()->set_revision(78);
  changed[1].mutable_head()->set_tree_size(1233);
  changed[2].mutable_head()->mutable_root_hash()->at(31) ^= 1;
  changed[3].mutable_head()->mutable_totals_digest()->at(0) ^= 1;
  changed[4].mutable_head()->mutable_definition_digest()->at(9) ^= 1;
  changed[5].mutable_head()->mutable_timestamp()->set_seconds(1679315148);
  changed[6].mutable_head()->mutable_timestamp()->set_nanos(6);
  for (const v1::SignedTreeHead& tampered : changed) {
    absl::Status status = VerifySignedTreeHead(tampered, key->public_key());
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(status.message(), HasSubstr("does not verify"));
  }
  // Another key.
  absl::StatusOr<Ed25519PrivateKey> other = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(other.ok());
  absl::Status status = VerifySignedTreeHead(*signed_head, other->public_key());
  EXPECT_THAT(status.message(), HasSubstr("signed by key"));
  // Malformed.
  v1::TreeHead bad = head;
  bad.set_root_hash("x");
  EXPECT_EQ(SignTreeHead(bad, *key).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = head;
  bad.mutable_timestamp()->set_nanos(1000000000);
  EXPECT_FALSE(TreeHeadBytes(bad).ok());
}

TEST(TreeHeadTest, CheckpointOfAHeadIsASignedNoteOfTheLogKey) {
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  const v1::TreeHead head = SampleHead();
  const std::string origin = LogOrigin("kz-2023");
  EXPECT_EQ(origin, "tally/kz-2023");
  absl::StatusOr<std::string> note = SignCheckpoint(origin, head, *key);
  ASSERT_TRUE(note.ok()) << note.status();
  absl::StatusOr<OpenedNote> opened = OpenNote(
      *note, {MakeVerifierKey(origin, kNoteTypeEd25519, key->public_key())});
  ASSERT_TRUE(opened.ok()) << opened.status();
  absl::StatusOr<Checkpoint> checkpoint = ParseCheckpoint(opened->text);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ(checkpoint->origin, origin);
  EXPECT_EQ(checkpoint->size, 1234u);
  EXPECT_EQ(HashBytes(checkpoint->root), head.root_hash());
  // Origins are valid note key names whatever the election id.
  EXPECT_EQ(LogOrigin("a b+c"), "tally/a-b-c");
  EXPECT_TRUE(IsValidKeyName(LogOrigin("x\xE3\x80\x80y")));
  EXPECT_EQ(ShortHash(head.root_hash()).size(), 16u);
}

v1::Totals MakeTotals(const std::string& contest, v1::ScopeKind kind,
                      const std::string& scope) {
  v1::Totals totals;
  totals.set_contest_id(contest);
  totals.mutable_scope()->set_kind(kind);
  totals.mutable_scope()->set_id(scope);
  return totals;
}

void AddChoice(v1::Totals* totals, const std::string& id, uint64_t votes) {
  v1::ChoiceTotal* choice = totals->add_choices();
  choice->set_choice_id(id);
  choice->set_votes(votes);
}

TEST(TotalsDigestTest, CanonicalAndSensitiveToEveryNumber) {
  v1::Totals a = MakeTotals("list", v1::SCOPE_KIND_NATIONAL, "");
  AddChoice(&a, "b", 10);
  AddChoice(&a, "a", 20);
  AddChoice(&a, "zero", 0);
  a.set_ballots_cast(30);
  a.set_stations_reported(2);
  a.set_revision(5);
  v1::Totals b = MakeTotals("list", v1::SCOPE_KIND_REGION, "r-1");
  AddChoice(&b, "a", 20);
  const Hash digest = TotalsDigest({a, b});

  // Order of entries and choice lines, zero lines, the unspecified scope
  // kind and the revision do not matter.
  v1::Totals reordered = MakeTotals("list", v1::SCOPE_KIND_UNSPECIFIED, "");
  AddChoice(&reordered, "a", 20);
  AddChoice(&reordered, "b", 10);
  reordered.set_ballots_cast(30);
  reordered.set_stations_reported(2);
  reordered.set_revision(99);
  EXPECT_EQ(TotalsDigest({b, reordered}), digest);

  // Every number does.
  std::vector<v1::Totals> changed(6, a);
  changed[0].mutable_choices(0)->set_votes(11);
  changed[1].set_invalid(1);
  changed[2].set_registered_voters_expected(1);
  changed[3].set_stations_with_anomalies(1);
  changed[4].mutable_scope()->set_id("x");
  changed[5].set_contest_id("list2");
  for (const v1::Totals& t : changed) EXPECT_NE(TotalsDigest({t, b}), digest);
  EXPECT_NE(TotalsDigest({a}), digest);

  // The incremental digester agrees, and replaces entries.
  TotalsDigester digester;
  digester.Set(changed[0]);
  digester.Set(b);
  EXPECT_NE(digester.Digest(), digest);
  digester.Set(a);
  EXPECT_EQ(digester.size(), 2u);
  EXPECT_EQ(digester.Digest(), digest);
  EXPECT_EQ(TotalsDigester().Digest(), TotalsDigest({}));
}

TEST(LeafDataTest, RoundTripAndCanonicalOnly) {
  v1::LogEntry entry;
  entry.set_revision(12);
  entry.set_collector_id("collector-r1");
  entry.set_collector_seq(345);
  v1::StationProtocol* protocol = entry.mutable_protocol();
  protocol->set_contest_id("list");
  protocol->set_station_id(1001);
  protocol->set_version(2);
  protocol->mutable_accounting()->set_ballots_found(10);
  protocol->set_digest(ProtocolDigest(*protocol));
  entry.mutable_accepted_at()->set_seconds(1679315147);
  const std::string data = LeafData(entry);
  absl::StatusOr<v1::LogEntry> back = ParseLeafData(data);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), entry.SerializeAsString());
  EXPECT_EQ(LeafData(*back), data);

  EXPECT_FALSE(ParseLeafData("\xff\xff\xff").ok());
  // An unknown field appended: parses, but is not the canonical encoding.
  std::string extended = data + std::string("\xf8\x07\x01", 3);
  absl::Status status = ParseLeafData(extended).status();
  EXPECT_THAT(status.message(), HasSubstr("not the canonical encoding"));
}

v1::LogEntry Entry(uint64_t revision, uint32_t station) {
  v1::LogEntry entry;
  entry.set_revision(revision);
  entry.set_collector_id("c");
  entry.set_collector_seq(station);
  entry.mutable_protocol()->set_contest_id("list");
  entry.mutable_protocol()->set_station_id(station);
  entry.mutable_protocol()->set_version(1);
  entry.mutable_accepted_at()->set_seconds(1000 + revision);
  return entry;
}

TEST(LogAppenderTest, RoundsGiveLeavesNodesAndVerifiableHeads) {
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(key.ok());
  const std::string definition = Sha256("definition");
  v1::Totals national = MakeTotals("list", v1::SCOPE_KIND_NATIONAL, "");
  v1::Totals region = MakeTotals("list", v1::SCOPE_KIND_REGION, "r");
  LogAppender appender(*key, definition, MerkleFrontier(), {national, region});
  LogAppender twin(*key, definition, MerkleFrontier(), {national, region});

  MemoryTree tree;
  uint32_t station = 0;
  for (uint64_t revision = 1; revision <= 20; ++revision) {
    RoundLog round;
    RoundLog twin_round;
    for (uint64_t i = 0; i < revision % 4; ++i) {
      const v1::LogEntry entry = Entry(revision, ++station);
      appender.AddLeaf(entry, &round);
      twin.AddLeaf(entry, &twin_round);
    }
    national.set_ballots_cast(revision * 10);
    appender.SetTotals(national);
    twin.SetTotals(national);
    google::protobuf::Timestamp now;
    now.set_seconds(1000 + revision);
    absl::StatusOr<v1::SignedTreeHead> head =
        appender.Seal(revision, now, &round);
    ASSERT_TRUE(head.ok()) << head.status();
    ASSERT_TRUE(twin.Seal(revision, now, &twin_round).ok());

    // The store would add exactly the tree's new complete subtrees.
    EXPECT_EQ(round.first_leaf, tree.size());
    for (const std::string& leaf : round.leaves) tree.AppendLeaf(leaf);
    for (const auto& [node, hash] : round.nodes) {
      std::vector<Hash> stored;
      ASSERT_TRUE(tree.ReadNodes({node}, &stored).ok());
      EXPECT_EQ(stored[0], hash);
    }
    EXPECT_TRUE(VerifySignedTreeHead(*head, key->public_key()).ok());
    EXPECT_EQ(head->head().tree_size(), tree.size());
    EXPECT_EQ(head->head().root_hash(), HashBytes(tree.Root()));
    EXPECT_EQ(head->head().totals_digest(),
              HashBytes(TotalsDigest({national, region})));
    EXPECT_EQ(head->head().definition_digest(), definition);
    EXPECT_EQ(head->head().timestamp().seconds(), now.seconds());
    // Replicas with the same key and the same rounds sign the same bytes.
    EXPECT_EQ(twin_round.head.SerializeAsString(), head->SerializeAsString());
  }

  // Rebuilt from the stored tree, it continues where it was.
  absl::StatusOr<MerkleFrontier> frontier =
      MerkleFrontier::Load(tree, tree.size());
  ASSERT_TRUE(frontier.ok());
  LogAppender restarted(*key, definition, *frontier, {national, region});
  RoundLog a;
  RoundLog b;
  appender.AddLeaf(Entry(21, 999), &a);
  restarted.AddLeaf(Entry(21, 999), &b);
  google::protobuf::Timestamp now;
  now.set_seconds(2000);
  ASSERT_TRUE(appender.Seal(21, now, &a).ok());
  ASSERT_TRUE(restarted.Seal(21, now, &b).ok());
  EXPECT_EQ(a.head.SerializeAsString(), b.head.SerializeAsString());
}

}  // namespace
}  // namespace tally::transparency
