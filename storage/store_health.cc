#include "storage/store_health.h"

#include <rocksdb/db.h>
#include <rocksdb/listener.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/status.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tally::storage {
namespace {

// Written by ResumeWrites to prove that writes get through; never read.
constexpr char kProbeKey[] = "write_probe";

constexpr char kNoSpace[] = "no space left on device";

// Written into a store's directory when it is found damaged in a way a
// later open could no longer see (see CheckNotEmptied).
constexpr char kDamaged[] = "DAMAGED";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsWordChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         c == '_';
}

// Length of the run of digits starting at `at`.
size_t DigitsAt(absl::string_view text, size_t at) {
  size_t end = at;
  while (end < text.size() && IsDigit(text[end])) ++end;
  return end - at;
}

// The store file named at `at`, or "" when none starts there: a store file
// number of at least six digits with an SST, WAL or blob suffix,
// MANIFEST-<n>, OPTIONS-<n>, or the word CURRENT.
std::string FileNamedAt(absl::string_view text, size_t at) {
  absl::string_view rest = text.substr(at);
  if (IsDigit(text[at]) && (at == 0 || !IsDigit(text[at - 1]))) {
    size_t digits = DigitsAt(text, at);
    if (digits >= 6) {
      for (absl::string_view suffix : {".sst", ".log", ".blob"}) {
        if (absl::StartsWith(rest.substr(digits), suffix)) {
          return std::string(rest.substr(0, digits + suffix.size()));
        }
      }
    }
  }
  for (absl::string_view prefix : {"MANIFEST-", "OPTIONS-"}) {
    if (absl::StartsWith(rest, prefix)) {
      size_t digits = DigitsAt(text, at + prefix.size());
      if (digits > 0)
        return std::string(rest.substr(0, prefix.size() + digits));
    }
  }
  constexpr absl::string_view kCurrent = "CURRENT";
  if (absl::StartsWith(rest, kCurrent) &&
      (at == 0 || !IsWordChar(text[at - 1])) &&
      (rest.size() == kCurrent.size() || !IsWordChar(rest[kCurrent.size()]))) {
    return std::string(kCurrent);
  }
  return "";
}

// The store file a RocksDB message names, if any: an SST, a WAL, the
// MANIFEST, CURRENT or an OPTIONS file. Hand-scanned rather than matched
// with std::regex, whose libstdc++ implementation trips GCC 12's
// -Wmaybe-uninitialized under the sanitizers.
std::string FileNamed(const std::string& message) {
  for (size_t at = 0; at < message.size(); ++at) {
    std::string file = FileNamedAt(message, at);
    if (!file.empty()) return file;
  }
  constexpr absl::string_view kWalNumber = "WAL with log number: ";
  size_t found = absl::string_view(message).find(kWalNumber);
  if (found != absl::string_view::npos) {
    size_t at = found + kWalNumber.size();
    size_t digits = DigitsAt(message, at);
    if (digits > 0) {
      std::string number = message.substr(at, digits);
      if (number.size() < 6) number.insert(0, 6 - number.size(), '0');
      return absl::StrCat(number, ".log");
    }
  }
  return "";
}

std::string Describe(const StoreLocation& where) {
  return absl::StrCat("the ", where.store, " store in ", where.data_dir);
}

// Declines RocksDB's automatic recovery from background errors.
class DeclineAutoRecovery : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/,
                            rocksdb::Status /*bg_error*/,
                            bool* auto_recovery) override {
    if (auto_recovery != nullptr) *auto_recovery = false;
  }
};

}  // namespace

void UseManualRecovery(rocksdb::DBOptions& options) {
  options.listeners.push_back(std::make_shared<DeclineAutoRecovery>());
  options.max_bgerror_resume_count = 0;
}

absl::Status WriteFault(const StoreLocation& where, absl::string_view operation,
                        const rocksdb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  const std::string cause = s.ToString();
  if (s.IsNoSpace() ||
      absl::StrContains(absl::AsciiStrToLower(cause), kNoSpace)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "disk full: no space left on device in the data directory ",
        where.data_dir, " of the ", where.store, " store (", operation, ": ",
        cause, "); nothing of this write is durable; it is retried once ",
        "space is freed there"));
  }
  if (s.IsCorruption()) {
    return absl::DataLossError(absl::StrCat(Describe(where), " is damaged (",
                                            operation, ": ", cause, ")"));
  }
  return absl::UnavailableError(
      absl::StrCat(Describe(where), " could not write (", operation, ": ",
                   cause, "); nothing of this write is durable"));
}

bool IsDiskFull(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         absl::StrContains(status.message(), kNoSpace);
}

absl::Status ResumeWrites(rocksdb::DB* db,
                          rocksdb::ColumnFamilyHandle* probe_family,
                          const StoreLocation& where) {
  // Resume flushes the memtables (RocksDB cannot vouch for a WAL that a
  // write failed on) and clears the background error; it fails while the
  // flush cannot be written.
  if (rocksdb::Status s = db->Resume(); !s.ok()) {
    return WriteFault(where, "Resume", s);
  }
  rocksdb::WriteOptions write;
  write.sync = true;
  return WriteFault(where, "write probe",
                    db->Put(write, probe_family, kProbeKey, ""));
}

absl::Status VerifyStoreFiles(rocksdb::DB* db, const StoreLocation& where) {
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  read.fill_cache = false;
  read.readahead_size = 4 << 20;
  const rocksdb::Status s = db->VerifyChecksum(read);
  if (s.ok()) return absl::OkStatus();
  return OpenFault(where, s);
}

absl::Status CheckStoreFilesComplete(const StoreLocation& where) {
  std::error_code ec;
  const std::filesystem::path dir(where.data_dir);
  if (!std::filesystem::is_directory(dir, ec)) return absl::OkStatus();
  if (std::filesystem::exists(dir / kDamaged, ec)) {
    std::ifstream marker(dir / kDamaged);
    std::string finding;
    std::getline(marker, finding);
    return absl::DataLossError(
        absl::StrCat(Describe(where), " is damaged (file ", kDamaged,
                     ", written when the damage was found: ", finding,
                     "); remove that file only once the store is restored"));
  }
  if (std::filesystem::exists(dir / "CURRENT", ec)) return absl::OkStatus();
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::EndsWith(name, ".sst") || absl::EndsWith(name, ".log") ||
        absl::StartsWith(name, "MANIFEST-")) {
      return absl::DataLossError(absl::StrCat(
          Describe(where), " is damaged (file CURRENT is missing, but ", name,
          " is there); it is not served: ", where.damaged_advice));
    }
  }
  return absl::OkStatus();
}

std::string ManifestOfTables(const StoreLocation& where) {
  std::error_code ec;
  bool tables = false;
  for (const auto& entry :
       std::filesystem::directory_iterator(where.data_dir, ec)) {
    if (entry.path().extension() == ".sst") tables = true;
  }
  if (!tables) return "";
  std::ifstream current(std::filesystem::path(where.data_dir) / "CURRENT");
  std::string manifest;
  std::getline(current, manifest);
  return manifest.empty() ? "MANIFEST" : manifest;
}

absl::Status CheckNotEmptied(
    rocksdb::DB* db, const StoreLocation& where, const std::string& manifest,
    const absl::StatusOr<std::optional<std::string>>& first_start_record) {
  if (manifest.empty()) return absl::OkStatus();
  if (!first_start_record.ok()) return first_start_record.status();
  if (first_start_record->has_value()) return absl::OkStatus();
  // An SST file written just before a crash and never recorded is no
  // damage when the store lists others (RocksDB removes it).
  std::vector<rocksdb::LiveFileMetaData> live;
  db->GetLiveFilesMetaData(&live);
  if (!live.empty()) return absl::OkStatus();
  const absl::Status status = absl::DataLossError(absl::StrCat(
      Describe(where), " is damaged (file ", manifest,
      "): it opened empty although its directory held SST files, so its "
      "MANIFEST lost them; it is not served: ",
      where.damaged_advice));
  std::ofstream marker(std::filesystem::path(where.data_dir) / kDamaged);
  marker << status.message() << "\n";
  return status;
}

absl::Status CheckOpenedStore(
    rocksdb::DB* db, const StoreLocation& where, const std::string& manifest,
    bool verify_files,
    const absl::StatusOr<std::optional<std::string>>& first_start_record) {
  if (verify_files) {
    if (absl::Status verified = VerifyStoreFiles(db, where); !verified.ok()) {
      return verified;
    }
  }
  return CheckNotEmptied(db, where, manifest, first_start_record);
}

absl::Status OpenFault(const StoreLocation& where, const rocksdb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  const std::string cause = s.ToString();
  const std::string file = FileNamed(cause);
  // An I/O error about one of the store's own files (missing, short,
  // unreadable) is damage too; a lock held by another process or a
  // permission problem on the directory is not.
  const bool damaged =
      s.IsCorruption() || (s.IsIOError() && !file.empty() && !s.IsNoSpace());
  if (!damaged) {
    if (s.IsNoSpace()) return WriteFault(where, "Open", s);
    return absl::UnavailableError(
        absl::StrCat("cannot open ", Describe(where), ": ", cause));
  }
  // RocksDB names the file for MANIFEST and SST damage, not for a WAL
  // record; its LOG file in the directory says which WAL.
  return absl::DataLossError(absl::StrCat(
      Describe(where), " is damaged",
      file.empty() ? absl::StrCat(" (its LOG file there names the file)")
                   : absl::StrCat(" (file ", file, ")"),
      ": ", cause, "; it is not served: ", where.damaged_advice));
}

}  // namespace tally::storage
