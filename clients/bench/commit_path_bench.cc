// Micro-benchmarks (Google Benchmark) of the pieces that dominate the
// aggregator's commit round in the callgrind profile of docs/PERFORMANCE.md:
// RocksDB memtable inserts of one round's keys (in arrival order and
// sorted), and the SHA-256 protocol digest (OpenSSL 3 EVP with an implicit
// algorithm fetch per call, against a digest object fetched once).
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "rocksdb/db.h"
#include "rocksdb/memtablerep.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/write_batch.h"
#include "services/domain/protocol_digest.h"
#include "tally/v1/protocol.pb.h"

namespace {

// 10-byte keys like the protocols family's (contest u16, station u32,
// version u32): 5 contests, stations drawn at random from a million.
std::vector<std::string> RandomKeys(size_t count, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<std::string> keys;
  keys.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const uint64_t value = random();
    const uint32_t contest = static_cast<uint32_t>(value % 5);
    const uint32_t station = static_cast<uint32_t>((value >> 8) % 1000000);
    std::string key(10, '\0');
    key[1] = static_cast<char>(contest);
    for (int b = 0; b < 4; ++b)
      key[2 + b] = static_cast<char>(station >> (24 - 8 * b));
    key[9] = 1;
    keys.push_back(std::move(key));
  }
  return keys;
}

// The memtable representations compared: RocksDB's default skip list over
// the whole memtable, and a hash of skip lists by the 6-byte (contest,
// station) prefix, where an insert searches only its own station's list.
enum MemtableKind { kSkipList = 0, kHashSkipList = 1, kSkipListHinted = 2 };

class MemtableFixture {
 public:
  explicit MemtableFixture(MemtableKind kind) {
    path_ = std::filesystem::temp_directory_path() /
            ("tally-memtable-bench-" + std::to_string(getpid()));
    std::filesystem::remove_all(path_);
    rocksdb::Options options;
    options.create_if_missing = true;
    options.write_buffer_size = 32 << 20;  // as the protocols family
    if (kind == kHashSkipList) {
      options.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(6));
      options.memtable_factory.reset(
          rocksdb::NewHashSkipListRepFactory(1 << 20));
      options.allow_concurrent_memtable_write = false;
    }
    if (kind == kSkipListHinted) {
      options.memtable_insert_with_hint_prefix_extractor.reset(
          rocksdb::NewFixedPrefixTransform(2));
    }
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, path_, &db);
    if (!s.ok()) std::abort();
    db_.reset(db);
  }
  ~MemtableFixture() {
    db_.reset();
    std::filesystem::remove_all(path_);
  }
  rocksdb::DB* db() { return db_.get(); }

 private:
  std::string path_;
  std::unique_ptr<rocksdb::DB> db_;
};

// One commit round's protocol keys (range(0) of them) into the memtable,
// WAL off so that only the in-memory insert is timed. range(1): 1 sorts
// the keys first. range(2): the MemtableKind.
void BM_MemtableRound(benchmark::State& state) {
  MemtableFixture fixture(static_cast<MemtableKind>(state.range(2)));
  const size_t per_round = static_cast<size_t>(state.range(0));
  const bool sorted = state.range(1) != 0;
  const std::string value(200, 'v');
  rocksdb::WriteOptions write;
  write.disableWAL = true;
  uint64_t seed = 1;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<std::string> keys = RandomKeys(per_round, seed++);
    if (sorted) std::sort(keys.begin(), keys.end());
    rocksdb::WriteBatch batch;
    for (const std::string& key : keys) batch.Put(key, value);
    state.ResumeTiming();
    if (!fixture.db()->Write(write, &batch).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(per_round));
}
BENCHMARK(BM_MemtableRound)
    ->ArgsProduct({{256, 4096, 16384},
                   {0, 1},
                   {kSkipList, kHashSkipList, kSkipListHinted}})
    ->ArgNames({"keys", "sorted", "memtable"})
    ->Unit(benchmark::kMicrosecond);

tally::v1::StationProtocol SampleProtocol() {
  tally::v1::StationProtocol p;
  p.set_contest_id("list");
  p.set_station_id(123456);
  p.set_version(1);
  auto* a = p.mutable_accounting();
  a->set_registered_voters(1500);
  a->set_ballots_received(1500);
  a->set_ballots_issued(820);
  a->set_ballots_found(818);
  a->set_invalid(12);
  a->set_against_all(0);
  a->set_unused_cancelled(680);
  const char* choices[] = {"p01", "p02", "p03", "p04",
                           "p05", "p06", "p07", "p08"};
  uint64_t left = 806;
  for (const char* choice : choices) {
    auto* line = p.add_votes();
    line->set_choice_id(choice);
    line->set_votes(left / 3);
    left -= left / 3;
  }
  return p;
}

// The digest as the aggregator computes it for every protocol.
void BM_ProtocolDigest(benchmark::State& state) {
  const tally::v1::StationProtocol protocol = SampleProtocol();
  for (auto _ : state) {
    benchmark::DoNotOptimize(tally::ProtocolDigest(protocol));
  }
}
BENCHMARK(BM_ProtocolDigest);

// SHA-256 of the canonical bytes: EVP_Digest with EVP_sha256() (what
// protocol_digest.cc does: OpenSSL 3 fetches the algorithm on each call)
// against an EVP_MD fetched once and a reused context.
void BM_Sha256ImplicitFetch(benchmark::State& state) {
  const std::string bytes = tally::CanonicalProtocolBytes(SampleProtocol());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  for (auto _ : state) {
    EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
    benchmark::DoNotOptimize(md);
  }
}
BENCHMARK(BM_Sha256ImplicitFetch);

void BM_Sha256PrefetchedContext(benchmark::State& state) {
  const std::string bytes = tally::CanonicalProtocolBytes(SampleProtocol());
  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  for (auto _ : state) {
    EVP_DigestInit_ex2(ctx, sha256, nullptr);
    EVP_DigestUpdate(ctx, bytes.data(), bytes.size());
    EVP_DigestFinal_ex(ctx, md, &len);
    benchmark::DoNotOptimize(md);
  }
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(sha256);
}
BENCHMARK(BM_Sha256PrefetchedContext);

void BM_CanonicalBytes(benchmark::State& state) {
  const tally::v1::StationProtocol protocol = SampleProtocol();
  for (auto _ : state) {
    benchmark::DoNotOptimize(tally::CanonicalProtocolBytes(protocol));
  }
}
BENCHMARK(BM_CanonicalBytes);

}  // namespace

BENCHMARK_MAIN();
