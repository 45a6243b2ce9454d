// tallyctl witness: an independent witness of the transparency log. It
// follows the log's signed heads, checks that each is consistent with the
// last one it saw, and cosigns each checkpoint with its own key (C2SP
// tlog-cosignature), so that a log showing different histories to
// different people (a split view) is caught.
//
//   tallyctl witness --aggregator ADDR --log_public_key FILE --state FILE
//                    --key FILE [--witness_name NAME] [--interval_ms MS]
//                    [--once] [--evidence FILE]
//
// --key is the witness's Ed25519 key (PEM); created on first use. Its
// C2SP verifier key is printed at start: the log accepts the witness's
// cosignatures once its operator lists that key in --witness_keys.
//
// It refuses a split view: two heads of one size with different roots, a
// head not consistent with an earlier one, or a checkpoint and a head of
// the same size that disagree, all signed by the log's key. It then writes
// both heads (and the proof served) as JSON to --evidence and exits 1.
// Network errors are retried at the next interval.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/grpc_client.h"
#include "clients/tallyctl/log_client.h"
#include "clients/tallyctl/log_flags.h"
#include "services/domain/proto_json.h"
#include "services/transparency/checkpoint.h"
#include "services/transparency/cosignature.h"
#include "services/transparency/durable_file.h"
#include "services/transparency/note.h"
#include "services/transparency/tree_head.h"

ABSL_FLAG(std::string, key, "",
          "witness: the witness's Ed25519 private key (PEM); created when "
          "missing");
ABSL_FLAG(std::string, witness_name, "",
          "witness: the witness's note key name; default "
          "tallyctl-witness/<first 16 hex digits of its key fingerprint>");
ABSL_FLAG(uint32_t, interval_ms, 5000, "witness: time between two checks");
ABSL_FLAG(bool, once, false, "witness: check (and cosign) once, then exit");
ABSL_FLAG(std::string, evidence, "",
          "witness: where a split view's evidence is written; default: the "
          "state file's path with .evidence.json");

namespace tally::cli {
namespace {

using transparency::Ed25519PrivateKey;
using transparency::Ed25519PublicKey;
using transparency::Hash;

int Usage(const std::string& message) {
  std::fprintf(stderr, "tallyctl witness: %s\n", message.c_str());
  return kExitBadInput;
}

int Failed(const absl::Status& status) {
  std::fprintf(stderr, "tallyctl witness: %s\n",
               std::string(status.message()).c_str());
  return kExitFailure;
}

class Witness {
 public:
  Witness(LogClient& log, Ed25519PublicKey log_key, Ed25519PrivateKey key,
          std::string name, std::string state_path, std::string evidence_path)
      : log_(log),
        log_key_(std::move(log_key)),
        key_(std::move(key)),
        name_(std::move(name)),
        state_path_(std::move(state_path)),
        evidence_path_(std::move(evidence_path)) {}

  // Reads the saved state and the log's origin. Errors are fatal.
  absl::Status Start() {
    absl::StatusOr<bool> have = ReadStateFile(state_path_, &state_);
    if (!have.ok()) return have.status();
    if (*have) {
      if (absl::Status status =
              transparency::VerifySignedTreeHead(state_.head(), log_key_);
          !status.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat(state_path_,
                         ": the saved head does not verify with "
                         "--log_public_key: ",
                         status.message()));
      }
    }
    return absl::OkStatus();
  }

  // One check. OK: nothing wrong (or a transient error, reported in
  // *transient). FailedPrecondition: a split view, evidence written.
  // Other errors are fatal (a head the log key did not sign).
  absl::Status Check(std::string* transient) {
    if (state_.origin().empty()) {
      absl::StatusOr<v1::GetPublicKeysResponse> keys = log_.GetPublicKeys();
      if (!keys.ok()) return Transient(keys.status(), transient);
      if (!transparency::IsValidKeyName(keys->origin())) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the log's origin \"", keys->origin(), "\" is not a key name"));
      }
      state_.set_origin(keys->origin());
    }
    absl::StatusOr<v1::GetTreeHeadResponse> served = log_.GetTreeHead(0);
    if (!served.ok()) return Transient(served.status(), transient);
    if (absl::Status status =
            transparency::VerifySignedTreeHead(served->signed_head(), log_key_);
        !status.ok()) {
      return status;
    }
    const v1::SignedTreeHead& latest = served->signed_head();
    const v1::TreeHead& head = latest.head();

    // The checkpoint must be the log's signature of this very head.
    absl::StatusOr<std::string> problem = CheckCheckpoint(*served);
    if (!problem.ok()) return problem.status();
    if (!problem->empty()) {
      return SplitView(*problem, latest, served->checkpoint(), latest,
                       served->checkpoint(), {});
    }

    if (state_.has_head()) {
      const v1::SignedTreeHead& earlier = state_.head();
      const v1::TreeHead& old = earlier.head();
      const bool behind = head.tree_size() < old.tree_size();
      const v1::TreeHead& first = behind ? head : old;
      const v1::TreeHead& second = behind ? old : head;
      std::vector<Hash> proof;
      absl::Status consistent = CheckConsistency(log_, first, second, &proof);
      if (absl::IsFailedPrecondition(consistent)) {
        return SplitView(std::string(consistent.message()), earlier,
                         state_.checkpoint(), latest, served->checkpoint(),
                         proof);
      }
      if (!consistent.ok()) return Transient(consistent, transient);
      if (behind || head.tree_size() == old.tree_size()) {
        // Nothing new (a lagging replica serves an older head: consistent,
        // nothing to cosign).
        return absl::OkStatus();
      }
    }

    // Cosign and remember.
    absl::StatusOr<transparency::Checkpoint> checkpoint =
        transparency::CheckpointOf(state_.origin(), head);
    if (!checkpoint.ok()) return checkpoint.status();
    const std::string text = transparency::FormatCheckpoint(*checkpoint);
    const uint64_t now =
        static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now()));
    absl::StatusOr<transparency::NoteSignature> cosignature =
        transparency::Cosign(text, name_, key_, now);
    if (!cosignature.ok()) return cosignature.status();
    *state_.mutable_head() = latest;
    state_.set_checkpoint(served->checkpoint());
    if (absl::Status saved = WriteStateFile(state_path_, state_); !saved.ok()) {
      return saved;
    }
    absl::StatusOr<v1::AddCosignatureResponse> added = log_.AddCosignature(
        head.tree_size(), transparency::FormatSignatureLine(*cosignature));
    std::string outcome;
    if (added.ok()) {
      outcome = absl::StrCat("cosignature accepted (", added->cosignatures(),
                             " witnesses)");
    } else if (absl::IsPermissionDenied(added.status())) {
      outcome =
          "the log does not accept this witness's cosignatures: list "
          "its verifier key in the aggregator's --witness_keys";
    } else {
      outcome =
          absl::StrCat("cosignature not delivered: ", added.status().message());
    }
    std::printf("revision %llu, tree size %llu, root %s: consistent; %s\n",
                static_cast<unsigned long long>(head.revision()),
                static_cast<unsigned long long>(head.tree_size()),
                transparency::ShortHash(head.root_hash()).c_str(),
                outcome.c_str());
    std::fflush(stdout);
    return absl::OkStatus();
  }

 private:
  static absl::Status Transient(const absl::Status& status,
                                std::string* transient) {
    *transient = std::string(status.message());
    return absl::OkStatus();
  }

  // "" when the served checkpoint is the log's signed note of the head;
  // otherwise what differs (two signed statements about one tree size).
  absl::StatusOr<std::string> CheckCheckpoint(
      const v1::GetTreeHeadResponse& served) {
    const transparency::NoteVerifierKey verifier =
        transparency::MakeVerifierKey(state_.origin(),
                                      transparency::kNoteTypeEd25519, log_key_);
    absl::StatusOr<transparency::OpenedNote> note =
        transparency::OpenNote(served.checkpoint(), {verifier});
    if (!note.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the served checkpoint is not signed by the log key under origin ",
          state_.origin(), ": ", note.status().message()));
    }
    absl::StatusOr<transparency::Checkpoint> checkpoint =
        transparency::ParseCheckpoint(note->text);
    if (!checkpoint.ok()) return checkpoint.status();
    const v1::TreeHead& head = served.signed_head().head();
    if (checkpoint->origin != state_.origin() ||
        checkpoint->size != head.tree_size() ||
        transparency::HashBytes(checkpoint->root) != head.root_hash()) {
      return absl::StrCat(
          "the signed checkpoint (size ", checkpoint->size, ", root ",
          transparency::ShortHash(transparency::HashBytes(checkpoint->root)),
          ") and the signed head (size ", head.tree_size(), ", root ",
          transparency::ShortHash(head.root_hash()), ") disagree");
    }
    return std::string();
  }

  absl::Status SplitView(const std::string& reason,
                         const v1::SignedTreeHead& earlier,
                         const std::string& earlier_checkpoint,
                         const v1::SignedTreeHead& later,
                         const std::string& later_checkpoint,
                         const std::vector<Hash>& proof) {
    v1::SplitViewEvidence evidence;
    evidence.set_reason(reason);
    *evidence.mutable_earlier() = earlier;
    *evidence.mutable_later() = later;
    evidence.set_earlier_checkpoint(earlier_checkpoint);
    evidence.set_later_checkpoint(later_checkpoint);
    for (const Hash& hash : proof) {
      evidence.add_consistency_proof(transparency::HashBytes(hash));
    }
    const absl::Time now = absl::Now();
    evidence.mutable_observed_at()->set_seconds(absl::ToUnixSeconds(now));
    absl::StatusOr<std::string> json = ToJson(evidence);
    if (!json.ok()) return json.status();
    absl::Status written = transparency::WriteFileDurably(
        evidence_path_, *json, 0644, transparency::Existing::kReplace);
    return absl::FailedPreconditionError(absl::StrCat(
        "SPLIT VIEW: ", reason, "; evidence ",
        written.ok() ? absl::StrCat("written to ", evidence_path_)
                     : absl::StrCat("NOT written: ", written.message())));
  }

  LogClient& log_;
  const Ed25519PublicKey log_key_;
  const Ed25519PrivateKey key_;
  const std::string name_;
  const std::string state_path_;
  const std::string evidence_path_;
  v1::WitnessState state_;
};

}  // namespace

int RunWitness(const std::vector<std::string>& args) {
  if (args.size() > 1) return Usage("unexpected argument " + args[1]);
  absl::StatusOr<Ed25519PublicKey> log_key = LogPublicKeyFromFlag();
  if (!log_key.ok()) return Usage(std::string(log_key.status().message()));
  const std::string state_path = absl::GetFlag(FLAGS_state);
  if (state_path.empty()) return Usage("--state FILE is required");
  const std::string key_path = absl::GetFlag(FLAGS_key);
  if (key_path.empty()) return Usage("--key FILE is required");
  bool created = false;
  absl::StatusOr<Ed25519PrivateKey> key =
      transparency::LoadOrCreatePrivateKeyFile(key_path, &created);
  if (!key.ok()) return Failed(key.status());
  std::string name = absl::GetFlag(FLAGS_witness_name);
  if (name.empty()) {
    name = absl::StrCat("tallyctl-witness/",
                        key->public_key().Fingerprint().substr(0, 16));
  }
  if (!transparency::IsValidKeyName(name)) {
    return Usage(absl::StrCat("--witness_name \"", name,
                              "\" may not be empty or hold spaces or '+'"));
  }
  std::string evidence = absl::GetFlag(FLAGS_evidence);
  if (evidence.empty()) evidence = state_path + ".evidence.json";
  std::fprintf(
      stderr, "%s witness key %s\nverifier key: %s\n",
      created ? "created" : "using", key_path.c_str(),
      transparency::FormatVerifierKey(
          transparency::MakeVerifierKey(
              name, transparency::kNoteTypeCosignatureV1, key->public_key()))
          .c_str());

  const ServerRef server = AggregatorRef();
  LogClient log(MakeChannel(server.address), server,
                absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms)));
  Witness witness(log, *log_key, *key, name, state_path, evidence);
  if (absl::Status status = witness.Start(); !status.ok()) {
    return Failed(status);
  }
  const bool once = absl::GetFlag(FLAGS_once);
  while (true) {
    std::string transient;
    absl::Status status = witness.Check(&transient);
    if (!status.ok()) return Failed(status);
    if (!transient.empty()) {
      std::fprintf(stderr, "tallyctl witness: %s (retrying)\n",
                   transient.c_str());
      if (once) return kExitFailure;
    } else if (once) {
      return kExitOk;
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(absl::GetFlag(FLAGS_interval_ms)));
  }
}

}  // namespace tally::cli
