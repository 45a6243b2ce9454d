// Hand-assembled protobuf encodings of the requests the drivers send, from
// protocols serialized once up front: the client then only copies bytes,
// so the machine's two cores go to the servers being measured.
#ifndef TALLY_CLIENTS_BENCH_WIRE_H_
#define TALLY_CLIENTS_BENCH_WIRE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clients/bench/workload.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/byte_buffer.h"

namespace tally::bench {

// tally.v1.IngestRequest{batch{entries{seq, protocol}...}} with sequence
// numbers first_seq, first_seq + 1, ...
std::string EncodeIngestBatch(const std::vector<const EncodedProtocol*>& batch,
                              uint64_t first_seq);
// tally.v1.SubmitRequest{protocol}.
std::string EncodeSubmitRequest(const EncodedProtocol& protocol);

grpc::ByteBuffer ToByteBuffer(const std::string& bytes);

// A loopback channel with its own connection (no subchannel sharing), so
// that N streams from N channels are N TCP connections as with N real
// collectors.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address);

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_WIRE_H_
