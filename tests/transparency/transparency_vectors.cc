// Writes what tally's transparency library computes, for an independent
// implementation to check (tests/transparency/verify_vectors.py):
//
//   transparency_vectors merkle MAX
//     For every tree size n in 1..MAX over the leaves
//     leaf(i) = byte(i mod 256) * (i mod 5) || decimal(i):
//       root n HEX
//       incl i n HEX,HEX,...      for every leaf i (RFC 9162 PATH)
//       cons m n HEX,HEX,...      for every 1 <= m <= n (RFC 9162 PROOF)
//     ("-" for an empty proof). Proofs are generated from a node reader
//     (MemoryTree), and every one is also checked with the library's own
//     verifier, with tampered variants that must fail; a failure is printed
//     to stderr and the exit code is 1.
//
//   transparency_vectors formats
//     One JSON object: fixed keys, a signed checkpoint note, a witness
//     cosignature, a signed tree head with its fields, and a totals digest
//     with the totals it covers, so that the byte formats documented in
//     services/transparency/ can be re-derived from the documentation.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/domain/proto_json.h"
#include "services/domain/protocol_digest.h"
#include "services/observability/json_text.h"
#include "services/transparency/checkpoint.h"
#include "services/transparency/cosignature.h"
#include "services/transparency/ed25519.h"
#include "services/transparency/log_entry.h"
#include "services/transparency/merkle.h"
#include "services/transparency/note.h"
#include "services/transparency/totals_digest.h"
#include "services/transparency/tree_head.h"

namespace tally::transparency {
namespace {

std::string Leaf(uint64_t i) {
  return absl::StrCat(std::string(i % 5, static_cast<char>(i % 256)), i);
}

std::string Proof(const std::vector<Hash>& proof) {
  if (proof.empty()) return "-";
  std::vector<std::string> hex;
  for (const Hash& hash : proof) hex.push_back(HashHex(hash));
  return absl::StrJoin(hex, ",");
}

int failures = 0;

void Fail(const std::string& what) {
  ++failures;
  if (failures <= 20) std::fprintf(stderr, "FAIL %s\n", what.c_str());
}

Hash Flipped(Hash hash) {
  hash[7] ^= 0x40;
  return hash;
}

int Merkle(uint64_t max) {
  MemoryTree tree;
  std::vector<Hash> roots(max + 1);
  std::vector<Hash> leaf_hashes;
  roots[0] = EmptyRoot();
  for (uint64_t n = 1; n <= max; ++n) {
    leaf_hashes.push_back(HashLeaf(Leaf(n - 1)));
    tree.Append(leaf_hashes.back());
    absl::StatusOr<Hash> root = RootHash(tree, n);
    if (!root.ok() || *root != tree.Root()) {
      Fail(absl::StrCat("root of size ", n, " from nodes"));
      continue;
    }
    roots[n] = *root;
    std::printf("root %llu %s\n", static_cast<unsigned long long>(n),
                HashHex(*root).c_str());
  }
  for (uint64_t n = 1; n <= max; ++n) {
    for (uint64_t i = 0; i < n; ++i) {
      absl::StatusOr<std::vector<Hash>> proof = InclusionProof(tree, i, n);
      if (!proof.ok()) {
        Fail(absl::StrCat("inclusion ", i, " ", n, ": ",
                          proof.status().message()));
        continue;
      }
      std::printf("incl %llu %llu %s\n", static_cast<unsigned long long>(i),
                  static_cast<unsigned long long>(n), Proof(*proof).c_str());
      if (!VerifyInclusion(i, n, leaf_hashes[i], *proof, roots[n]).ok()) {
        Fail(absl::StrCat("own inclusion proof ", i, " ", n));
      }
      if (VerifyInclusion(i, n, Flipped(leaf_hashes[i]), *proof, roots[n])
              .ok()) {
        Fail(absl::StrCat("inclusion ", i, " ", n, " with another leaf"));
      }
      if (n > 1 &&
          VerifyInclusion((i + 1) % n, n, leaf_hashes[i], *proof, roots[n])
              .ok() &&
          leaf_hashes[(i + 1) % n] != leaf_hashes[i]) {
        Fail(absl::StrCat("inclusion ", i, " ", n, " at another index"));
      }
      for (size_t k = 0; k < proof->size(); ++k) {
        std::vector<Hash> tampered = *proof;
        tampered[k] = Flipped(tampered[k]);
        if (VerifyInclusion(i, n, leaf_hashes[i], tampered, roots[n]).ok()) {
          Fail(absl::StrCat("inclusion ", i, " ", n, " tampered at ", k));
        }
      }
      if (!proof->empty()) {
        std::vector<Hash> shorter(proof->begin(), proof->end() - 1);
        if (VerifyInclusion(i, n, leaf_hashes[i], shorter, roots[n]).ok()) {
          Fail(absl::StrCat("inclusion ", i, " ", n, " without its last"));
        }
      }
      std::vector<Hash> longer = *proof;
      longer.push_back(roots[n]);
      if (VerifyInclusion(i, n, leaf_hashes[i], longer, roots[n]).ok()) {
        Fail(absl::StrCat("inclusion ", i, " ", n, " with an extra hash"));
      }
    }
    for (uint64_t m = 1; m <= n; ++m) {
      absl::StatusOr<std::vector<Hash>> proof = ConsistencyProof(tree, m, n);
      if (!proof.ok()) {
        Fail(absl::StrCat("consistency ", m, " ", n, ": ",
                          proof.status().message()));
        continue;
      }
      std::printf("cons %llu %llu %s\n", static_cast<unsigned long long>(m),
                  static_cast<unsigned long long>(n), Proof(*proof).c_str());
      if (!VerifyConsistency(m, n, roots[m], roots[n], *proof).ok()) {
        Fail(absl::StrCat("own consistency proof ", m, " ", n));
      }
      if (VerifyConsistency(m, n, Flipped(roots[m]), roots[n], *proof).ok()) {
        Fail(absl::StrCat("consistency ", m, " ", n, " with another old root"));
      }
      if (VerifyConsistency(m, n, roots[m], Flipped(roots[n]), *proof).ok()) {
        Fail(absl::StrCat("consistency ", m, " ", n, " with another new root"));
      }
      for (size_t k = 0; k < proof->size(); ++k) {
        std::vector<Hash> tampered = *proof;
        tampered[k] = Flipped(tampered[k]);
        if (VerifyConsistency(m, n, roots[m], roots[n], tampered).ok()) {
          Fail(absl::StrCat("consistency ", m, " ", n, " tampered at ", k));
        }
      }
      if (m < n && m > 1 &&
          VerifyConsistency(m - 1, n, roots[m], roots[n], *proof).ok()) {
        Fail(absl::StrCat("consistency ", m, " ", n, " claimed from ", m - 1));
      }
    }
  }
  std::fflush(stdout);
  if (failures > 0) {
    std::fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  return 0;
}

std::string Hex(absl::string_view bytes) {
  return HexEncode(std::string(bytes));
}

std::string Quote(absl::string_view text) { return obs::JsonQuote(text); }

int Formats() {
  // Fixed seeds: the output is the same on every run.
  const std::string log_seed(32, '\x11');
  const std::string witness_seed(32, '\x22');
  absl::StatusOr<Ed25519PrivateKey> log_key =
      Ed25519PrivateKey::FromSeed(log_seed);
  absl::StatusOr<Ed25519PrivateKey> witness_key =
      Ed25519PrivateKey::FromSeed(witness_seed);
  if (!log_key.ok() || !witness_key.ok()) return 1;
  const std::string origin = LogOrigin("kz-2023");
  const std::string witness_name = "witness.example/w1";

  MemoryTree tree;
  for (int i = 0; i < 13; ++i) tree.AppendLeaf(Leaf(i));

  v1::Totals a;
  a.set_contest_id("list");
  a.mutable_scope()->set_kind(v1::SCOPE_KIND_REGION);
  a.mutable_scope()->set_id("r-2");
  for (const auto& [id, votes] : std::vector<std::pair<std::string, uint64_t>>{
           {"zeta", 5}, {"alpha", 7}, {"none", 0}}) {
    v1::ChoiceTotal* choice = a.add_choices();
    choice->set_choice_id(id);
    choice->set_votes(votes);
  }
  a.set_against_all(3);
  a.set_invalid(2);
  a.set_ballots_cast(17);
  a.set_ballots_issued(18);
  a.set_registered_voters(40);
  a.set_registered_voters_expected(90);
  a.set_stations_reported(1);
  a.set_stations_expected(2);
  a.set_stations_with_anomalies(1);
  a.set_revision(9);
  v1::Totals b;
  b.set_contest_id("list");
  b.mutable_scope()->set_kind(v1::SCOPE_KIND_NATIONAL);
  b.set_ballots_cast(1ull << 40);
  b.set_stations_expected(4000000000u);
  v1::Totals c;
  c.set_contest_id("district-1");
  c.mutable_scope()->set_kind(v1::SCOPE_KIND_DISTRICT);
  c.mutable_scope()->set_id("d-1");
  const std::vector<v1::Totals> totals = {a, b, c};
  const Hash totals_digest = TotalsDigest(totals);

  v1::TreeHead head;
  head.set_revision(4242);
  head.set_tree_size(tree.size());
  head.set_root_hash(HashBytes(tree.Root()));
  head.set_totals_digest(HashBytes(totals_digest));
  head.set_definition_digest(Sha256("definition"));
  head.mutable_timestamp()->set_seconds(1679315147);
  head.mutable_timestamp()->set_nanos(123456789);
  absl::StatusOr<v1::SignedTreeHead> signed_head = SignTreeHead(head, *log_key);
  absl::StatusOr<std::string> checkpoint_note =
      SignCheckpoint(origin, head, *log_key);
  absl::StatusOr<Checkpoint> checkpoint = CheckpointOf(origin, head);
  if (!signed_head.ok() || !checkpoint_note.ok() || !checkpoint.ok()) return 1;
  const std::string checkpoint_text = FormatCheckpoint(*checkpoint);
  absl::StatusOr<NoteSignature> cosignature =
      Cosign(checkpoint_text, witness_name, *witness_key, 1700000000);
  if (!cosignature.ok()) return 1;
  const std::string cosigned_note =
      *checkpoint_note + FormatSignatureLine(*cosignature);

  // One leaf, for decoders of LogEntry (the web page's).
  v1::LogEntry entry;
  entry.set_revision(9007199254740993ull);  // 2^53 + 1: needs 64 bits
  entry.set_collector_id("collector-astana");
  entry.set_collector_seq(77);
  v1::StationProtocol* protocol = entry.mutable_protocol();
  protocol->set_contest_id("mazhilis-list");
  protocol->set_station_id(4711);
  protocol->set_version(2);
  protocol->mutable_accounting()->set_registered_voters(1500);
  protocol->mutable_accounting()->set_ballots_found(901);
  protocol->mutable_accounting()->set_invalid(12);
  protocol->mutable_accounting()->set_against_all(30);
  for (const auto& [id, votes] : std::vector<std::pair<std::string, uint64_t>>{
           {"amanat", 500}, {"auyl", 359}}) {
    v1::ChoiceVotes* line = protocol->add_votes();
    line->set_choice_id(id);
    line->set_votes(votes);
  }
  protocol->set_submitted_by("station-client");
  protocol->mutable_signed_at()->set_seconds(1679240000);
  protocol->set_digest(ProtocolDigest(*protocol));
  entry.mutable_accepted_at()->set_seconds(1679250000);
  entry.mutable_accepted_at()->set_nanos(250000000);
  const std::string sample_leaf = LeafData(entry);

  std::vector<std::string> totals_json;
  for (const v1::Totals& t : totals) {
    absl::StatusOr<std::string> json = ToJson(t, {.pretty = false});
    if (!json.ok()) return 1;
    std::string line = *json;
    while (!line.empty() && line.back() == '\n') line.pop_back();
    totals_json.push_back(line);
  }

  std::printf(
      "{\n"
      "  \"log_seed\": \"%s\",\n"
      "  \"log_public_key\": \"%s\",\n"
      "  \"log_key_id\": \"%s\",\n"
      "  \"log_note_verifier_key\": %s,\n"
      "  \"origin\": %s,\n"
      "  \"checkpoint_text\": %s,\n"
      "  \"checkpoint_note\": %s,\n"
      "  \"witness_seed\": \"%s\",\n"
      "  \"witness_name\": %s,\n"
      "  \"witness_verifier_key\": %s,\n"
      "  \"cosigned_note\": %s,\n"
      "  \"head\": {\"revision\": %llu, \"tree_size\": %llu, "
      "\"root_hash\": \"%s\", \"totals_digest\": \"%s\", "
      "\"definition_digest\": \"%s\", \"seconds\": %lld, \"nanos\": %d},\n"
      "  \"head_bytes\": \"%s\",\n"
      "  \"head_signature\": \"%s\",\n"
      "  \"head_key_id\": \"%s\",\n"
      "  \"totals\": [%s],\n"
      "  \"totals_digest\": \"%s\",\n"
      "  \"sample_leaf\": \"%s\",\n"
      "  \"sample_leaf_digest\": \"%s\"\n"
      "}\n",
      Hex(log_seed).c_str(), Hex(log_key->public_key().raw()).c_str(),
      Hex(log_key->public_key().KeyId()).c_str(),
      Quote(FormatVerifierKey(MakeVerifierKey(origin, kNoteTypeEd25519,
                                              log_key->public_key())))
          .c_str(),
      Quote(origin).c_str(), Quote(checkpoint_text).c_str(),
      Quote(*checkpoint_note).c_str(), Hex(witness_seed).c_str(),
      Quote(witness_name).c_str(),
      Quote(
          FormatVerifierKey(MakeVerifierKey(
              witness_name, kNoteTypeCosignatureV1, witness_key->public_key())))
          .c_str(),
      Quote(cosigned_note).c_str(),
      static_cast<unsigned long long>(head.revision()),
      static_cast<unsigned long long>(head.tree_size()),
      Hex(head.root_hash()).c_str(), Hex(head.totals_digest()).c_str(),
      Hex(head.definition_digest()).c_str(),
      static_cast<long long>(head.timestamp().seconds()),
      head.timestamp().nanos(), Hex(*TreeHeadBytes(head)).c_str(),
      Hex(signed_head->signature()).c_str(), Hex(signed_head->key_id()).c_str(),
      absl::StrJoin(totals_json, ", ").c_str(), HashHex(totals_digest).c_str(),
      Hex(sample_leaf).c_str(), Hex(protocol->digest()).c_str());
  return 0;
}

}  // namespace
}  // namespace tally::transparency

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  uint64_t max = 0;
  if (mode == "merkle" && argc == 3 && absl::SimpleAtoi(argv[2], &max) &&
      max >= 1) {
    return tally::transparency::Merkle(max);
  }
  if (mode == "formats" && argc == 2) return tally::transparency::Formats();
  std::fprintf(stderr, "usage: transparency_vectors merkle MAX | formats\n");
  return 2;
}
