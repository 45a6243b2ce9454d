#include "clients/bench/wire.h"

#include "services/rpc/channel.h"

namespace tally::bench {
namespace {

size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

void PutVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// Wire tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
constexpr char kRequestBatch = (2 << 3) | 2;    // IngestRequest.batch
constexpr char kBatchEntries = (1 << 3) | 2;    // IngestBatch.entries
constexpr char kEntrySeq = (1 << 3) | 0;        // OutboxEntry.seq
constexpr char kEntryProtocol = (2 << 3) | 2;   // OutboxEntry.protocol
constexpr char kSubmitProtocol = (1 << 3) | 2;  // SubmitRequest.protocol

}  // namespace

std::string EncodeIngestBatch(const std::vector<const EncodedProtocol*>& batch,
                              uint64_t first_seq) {
  size_t batch_size = 0;
  uint64_t seq = first_seq;
  for (const EncodedProtocol* protocol : batch) {
    const size_t entry = 1 + VarintSize(seq++) + 1 +
                         VarintSize(protocol->bytes.size()) +
                         protocol->bytes.size();
    batch_size += 1 + VarintSize(entry) + entry;
  }
  std::string out;
  out.reserve(1 + VarintSize(batch_size) + batch_size);
  out.push_back(kRequestBatch);
  PutVarint(out, batch_size);
  seq = first_seq;
  for (const EncodedProtocol* protocol : batch) {
    const size_t entry = 1 + VarintSize(seq) + 1 +
                         VarintSize(protocol->bytes.size()) +
                         protocol->bytes.size();
    out.push_back(kBatchEntries);
    PutVarint(out, entry);
    out.push_back(kEntrySeq);
    PutVarint(out, seq++);
    out.push_back(kEntryProtocol);
    PutVarint(out, protocol->bytes.size());
    out += protocol->bytes;
  }
  return out;
}

std::string EncodeSubmitRequest(const EncodedProtocol& protocol) {
  std::string out;
  out.push_back(kSubmitProtocol);
  PutVarint(out, protocol.bytes.size());
  out += protocol.bytes;
  return out;
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address) {
  rpc::ChannelOptions options;
  options.own_connection = true;
  return rpc::MakeChannel(address, options);
}

}  // namespace tally::bench
