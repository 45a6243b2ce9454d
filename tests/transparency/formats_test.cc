// C2SP signed-note, tlog-checkpoint and tlog-cosignature against the
// published examples: the specifications' own examples (c2sp.org), the
// reference key and note of Go's golang.org/x/mod/sumdb/note, and keys and
// cosignatures from github.com/transparency-dev/formats' tests. Ed25519 is
// deterministic, so signing the reference text with the reference key must
// give the published signature line byte for byte.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/transparency/checkpoint.h"
#include "services/transparency/cosignature.h"
#include "services/transparency/ed25519.h"
#include "services/transparency/merkle.h"
#include "services/transparency/note.h"

namespace tally::transparency {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

// golang.org/x/mod/sumdb/note: the documentation's key pair and note.
constexpr char kPeterVerifier[] =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr char kPeterSigner[] =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+"
    "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr char kPeterText[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr char kPeterSignature[] =
    "\xE2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
    "RZb6KE6RyyBwJnAM=\n";

// c2sp.org/signed-note's example: a text with an empty line inside and a
// UTF-8 character.
constexpr char kSpecNote[] =
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed \xC3\xA8 subito sera.\n"
    "\n"
    "\xE2\x80\x94 quasimodo.example/salvatore "
    "NnugSzTjtVAewIS+Z/iJhUPeFDkO/"
    "5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ih"
    "AQwaqP3ZekRwNtIc=\n";

// c2sp.org/tlog-checkpoint's example and c2sp.org/tlog-cosignature's
// witness line over it.
constexpr char kSpecCheckpointText[] =
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
constexpr char kSpecCheckpointSignature[] =
    "\xE2\x80\x94 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
    "Zhcyv2q1gGzGku9nTo"
    "+zyWE+xeMcTOAYQ8=\n";
constexpr char kSpecCosignature[] =
    "\xE2\x80\x94 witness.example.com/w1 "
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/"
    "zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nP"
    "Zqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

TEST(SignedNoteTest, ReferenceKeysParseAndFormatBack) {
  absl::StatusOr<NoteSignerKey> signer = ParseSignerKey(kPeterSigner);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ(signer->name, "PeterNeumann");
  EXPECT_EQ(FormatSignerKey(*signer), kPeterSigner);
  absl::StatusOr<NoteVerifierKey> verifier = ParseVerifierKey(kPeterVerifier);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(verifier->key_id(), 0xc74f20a3u);
  EXPECT_EQ(verifier->key, signer->key.public_key());
  EXPECT_EQ(FormatVerifierKey(MakeVerifierKey("PeterNeumann", kNoteTypeEd25519,
                                              signer->key.public_key())),
            kPeterVerifier);
}

TEST(SignedNoteTest, SigningTheReferenceTextGivesThePublishedLine) {
  absl::StatusOr<NoteSignerKey> signer = ParseSignerKey(kPeterSigner);
  ASSERT_TRUE(signer.ok());
  absl::StatusOr<NoteSignature> signature =
      SignNote(kPeterText, signer->name, signer->key);
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(FormatSignatureLine(*signature), kPeterSignature);
  EXPECT_EQ(FormatNote(Note{kPeterText, {*signature}}),
            std::string(kPeterText) + "\n" + kPeterSignature);
}

TEST(SignedNoteTest, OpenFollowsTheSpecification) {
  absl::StatusOr<NoteVerifierKey> peter = ParseVerifierKey(kPeterVerifier);
  ASSERT_TRUE(peter.ok());
  const std::string note = std::string(kPeterText) + "\n" + kPeterSignature;
  absl::StatusOr<OpenedNote> opened = OpenNote(note, {*peter});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->text, kPeterText);
  EXPECT_THAT(opened->verified, SizeIs(1));

  // One changed character: the known key's signature must fail.
  std::string changed = note;
  changed[3] = 'Y';
  EXPECT_EQ(OpenNote(changed, {*peter}).status().code(),
            absl::StatusCode::kPermissionDenied);

  // Unknown signatures are ignored but kept; with no known one the note is
  // refused.
  const std::string with_stranger =
      note + std::string(kSpecCheckpointSignature);
  opened = OpenNote(with_stranger, {*peter});
  ASSERT_TRUE(opened.ok());
  EXPECT_THAT(opened->unverified, SizeIs(1));
  EXPECT_EQ(opened->unverified[0].name, "example.com/behind-the-sofa");
  EXPECT_EQ(OpenNote(note, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);

  // A known name with another key id is somebody else's key: ignored.
  NoteVerifierKey other = *peter;
  other.type = kNoteTypeCosignatureV1;
  EXPECT_EQ(OpenNote(note, {other}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SignedNoteTest, TheSpecificationsExampleParses) {
  absl::StatusOr<Note> note = ParseNote(kSpecNote);
  ASSERT_TRUE(note.ok()) << note.status();
  // Split at the last blank line: the empty line inside stays in the text.
  EXPECT_EQ(note->text,
            "Ognuno sta solo sul cuor della terra\n"
            "trafitto da un raggio di sole:\n"
            "\n"
            "ed \xC3\xA8 subito sera.\n");
  ASSERT_THAT(note->signatures, SizeIs(1));
  EXPECT_EQ(note->signatures[0].name, "quasimodo.example/salvatore");
  EXPECT_EQ(note->signatures[0].key_id, 0x367ba04bu);
  EXPECT_EQ(note->signatures[0].signature.size(), 64u);
  EXPECT_EQ(FormatNote(*note), kSpecNote);
}

TEST(SignedNoteTest, MalformedNotesAreRefusedWithTheReason) {
  const std::string text = kPeterText;
  struct Case {
    std::string note;
    std::string reason;
  } cases[] = {
      {text + kPeterSignature, "no blank line"},
      {text + "\n", "must end with a newline"},
      {text + "\n" + std::string(kPeterSignature).substr(0, 60),
       "must end with a newline"},
      {text + "\n- PeterNeumann x08go/ZJk=\n", "em dash"},
      {text + "\n\xE2\x80\x94 PeterNeumann\n", "a space"},
      {text + "\n\xE2\x80\x94 Peter+Neumann AAAAAAAA\n", "valid key name"},
      {text + "\n\xE2\x80\x94 PeterNeumann AAAA\n", "shorter than 5"},
      {text + "\n\xE2\x80\x94 PeterNeumann AAAAAAA\n", "padded base64"},
      {"tab\there\n\n" + std::string(kPeterSignature), "control character"},
      {"bad \xC3\x28 utf8\n\n" + std::string(kPeterSignature), "UTF-8"},
      {"surrogate \xED\xA0\x80\n\n" + std::string(kPeterSignature), "UTF-8"},
  };
  for (const Case& c : cases) {
    absl::Status status = ParseNote(c.note).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.note;
    EXPECT_THAT(status.message(), HasSubstr(c.reason)) << c.note;
  }
  std::string many = text + "\n";
  for (int i = 0; i < 101; ++i) many += kPeterSignature;
  EXPECT_THAT(ParseNote(many).status().message(), HasSubstr("more than 100"));
  std::string hundred = text + "\n";
  for (int i = 0; i < 100; ++i) hundred += kPeterSignature;
  EXPECT_TRUE(ParseNote(hundred).ok());
}

TEST(SignedNoteTest, KeyNamesAndKeyStringsAreChecked) {
  EXPECT_TRUE(IsValidKeyName("example.com/log42"));
  EXPECT_TRUE(IsValidKeyName("tally/kz-2023"));
  EXPECT_FALSE(IsValidKeyName(""));
  EXPECT_FALSE(IsValidKeyName("a+b"));
  EXPECT_FALSE(IsValidKeyName("a b"));
  EXPECT_FALSE(
      IsValidKeyName("a\xC2\xA0"
                     "b"));  // no-break space
  EXPECT_FALSE(
      IsValidKeyName("a\xE3\x80\x80"
                     "b"));  // ideographic space
  EXPECT_FALSE(IsValidKeyName("\xFF"));
  // Go's own refusals: a wrong key id, a truncated key, another type.
  for (const char* bad :
       {"PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "rekor.sigstore.dev+12345678+AwEB", "PeterNeumann+c74f20a3"}) {
    EXPECT_FALSE(ParseVerifierKey(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseSignerKey("PRIVATE+KEY+PeterNeumann+c74f20a4+"
                              "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
                   .ok());
}

TEST(CheckpointTest, TheSpecificationsExampleRoundTrips) {
  absl::StatusOr<Checkpoint> checkpoint = ParseCheckpoint(kSpecCheckpointText);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(checkpoint->size, 20852163u);
  EXPECT_EQ(Base64(HashBytes(checkpoint->root)),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
  EXPECT_TRUE(checkpoint->extensions.empty());
  EXPECT_EQ(FormatCheckpoint(*checkpoint), kSpecCheckpointText);

  absl::StatusOr<Note> note =
      ParseNote(std::string(kSpecCheckpointText) + "\n" +
                kSpecCheckpointSignature + kSpecCosignature);
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_EQ(note->text, kSpecCheckpointText);
  ASSERT_THAT(note->signatures, SizeIs(2));
  EXPECT_EQ(note->signatures[0].name, "example.com/behind-the-sofa");
  EXPECT_EQ(note->signatures[0].key_id, 0x033de0aeu);
  EXPECT_EQ(note->signatures[1].name, "witness.example.com/w1");

  Checkpoint extended = *checkpoint;
  extended.extensions = {"ext one", "two"};
  absl::StatusOr<Checkpoint> back = ParseCheckpoint(FormatCheckpoint(extended));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, extended);
}

TEST(CheckpointTest, MalformedCheckpointsAreRefused) {
  const std::string root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
  struct Case {
    std::string text;
    std::string reason;
  } cases[] = {
      {"origin\n12\n", "needs an origin"},
      {"origin\n012\n" + root + "\n", "leading zeros"},
      {"origin\n-1\n" + root + "\n", "decimal"},
      {"origin\n18446744073709551616\n" + root + "\n", "decimal"},
      {"origin\n12\nAAAA\n", "has 3 bytes"},
      {"origin\n12\n" + root.substr(0, 43) + "\n", "padded base64"},
      {"\n12\n" + root + "\n", "line 1 is empty"},
      {"origin\n12\n" + root + "\n\nextension\n", "line 4 is empty"},
      {"origin\n12\n" + root, "end with a newline"},
  };
  for (const Case& c : cases) {
    absl::Status status = ParseCheckpoint(c.text).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(status.message(), HasSubstr(c.reason)) << c.text;
  }
  EXPECT_TRUE(ParseCheckpoint("o\n0\n" + root + "\n").ok());
}

TEST(CosignatureTest, TheSpecificationsExampleMessageAndTimestamp) {
  // The signed message is exactly the one the specification prints.
  EXPECT_EQ(CosignatureMessage(1679315147, kSpecCheckpointText),
            "cosignature/v1\n"
            "time 1679315147\n"
            "example.com/behind-the-sofa\n"
            "20852163\n"
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
  absl::StatusOr<NoteSignature> line = ParseSignatureLine(kSpecCosignature);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->key_id, 0x8d66cf3fu);
  absl::StatusOr<uint64_t> timestamp = CosignatureTimestamp(*line);
  ASSERT_TRUE(timestamp.ok());
  EXPECT_EQ(*timestamp, 1679315147u);

  // transparency-dev/formats: a cosignature's timestamp, and a plain
  // Ed25519 signature that is not a cosignature.
  line = ParseSignatureLine(
      "\xE2\x80\x94 w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyoc"
      "WODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==");
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(*CosignatureTimestamp(*line), 1727964367u);
  line = ParseSignatureLine(
      "\xE2\x80\x94 w eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBo"
      "XnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=");
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(CosignatureTimestamp(*line).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CosignatureTest, PublishedWitnessKeysHaveTheirKeyIds) {
  // A native cosignature (type 0x04) verifier key of a public witness.
  absl::StatusOr<NoteVerifierKey> remora = ParseVerifierKey(
      "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2");
  ASSERT_TRUE(remora.ok()) << remora.status();
  EXPECT_EQ(remora->type, kNoteTypeCosignatureV1);
  EXPECT_EQ(remora->key_id(), 0xda77ade7u);
  // An Ed25519 (0x01) key used as a witness key: its cosignature key id is
  // derived with type 0x04.
  absl::StatusOr<NoteVerifierKey> test = ParseVerifierKey(
      "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6");
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->key_id(), 0x7997405cu);
  EXPECT_EQ(NoteKeyId("TEST", kNoteTypeCosignatureV1, test->key.raw()),
            0xfdd2dbc7u);
}

TEST(CosignatureTest, CosignVerifyAndTamper) {
  absl::StatusOr<NoteSignerKey> signer = ParseSignerKey(kPeterSigner);
  ASSERT_TRUE(signer.ok());
  const Ed25519PrivateKey& key = signer->key;
  absl::StatusOr<NoteSignature> cosignature =
      Cosign(kSpecCheckpointText, "witness.example/w1", key, 1700000000);
  ASSERT_TRUE(cosignature.ok()) << cosignature.status();
  EXPECT_EQ(cosignature->signature.size(), 72u);
  EXPECT_EQ(cosignature->key_id,
            NoteKeyId("witness.example/w1", kNoteTypeCosignatureV1,
                      key.public_key().raw()));
  EXPECT_TRUE(
      VerifyCosignature(key.public_key(), kSpecCheckpointText, *cosignature)
          .ok());
  // Deterministic: the same time gives the same line.
  EXPECT_EQ(*Cosign(kSpecCheckpointText, "witness.example/w1", key, 1700000000),
            *cosignature);

  // Another checkpoint, another time, another key: refused.
  const std::string other =
      "example.com/behind-the-sofa\n20852164\n"
      "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  EXPECT_EQ(VerifyCosignature(key.public_key(), other, *cosignature).code(),
            absl::StatusCode::kPermissionDenied);
  NoteSignature retimed = *cosignature;
  retimed.signature[7] ^= 1;
  EXPECT_EQ(
      VerifyCosignature(key.public_key(), kSpecCheckpointText, retimed).code(),
      absl::StatusCode::kPermissionDenied);
  absl::StatusOr<Ed25519PrivateKey> stranger = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(stranger.ok());
  EXPECT_FALSE(VerifyCosignature(stranger->public_key(), kSpecCheckpointText,
                                 *cosignature)
                   .ok());

  // Opened as a note with the witness's type-0x04 key.
  const std::string note = std::string(kSpecCheckpointText) + "\n" +
                           FormatSignatureLine(*cosignature);
  absl::StatusOr<OpenedNote> opened = OpenNote(
      note, {MakeVerifierKey("witness.example/w1", kNoteTypeCosignatureV1,
                             key.public_key())});
  ASSERT_TRUE(opened.ok()) << opened.status();
  // A plain Ed25519 verifier of the same key does not accept it.
  EXPECT_FALSE(
      OpenNote(note, {MakeVerifierKey("witness.example/w1", kNoteTypeEd25519,
                                      key.public_key())})
          .ok());
  EXPECT_FALSE(Cosign("not a checkpoint\n", "w", key, 1).ok());
}

}  // namespace
}  // namespace tally::transparency
