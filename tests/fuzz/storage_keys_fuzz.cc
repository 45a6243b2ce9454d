// Fuzzes the storage decoders (storage/key_encoding.h) with arbitrary
// bytes, as a damaged or foreign database would hand them over. The first
// byte picks the decoder. Invariants: a decoder accepts only its length
// (and says InvalidArgument otherwise); whatever it accepts encodes back to the
// same bytes; a prefix's successor is greater than every string with that
// prefix.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/key_encoding.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace tally::storage;

template <typename Decoded, typename Encode>
void RoundTrip(const absl::StatusOr<Decoded>& decoded, std::string_view bytes,
               size_t size, Encode encode) {
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(bytes.size() == size);
  FUZZ_CHECK(encode(*decoded) == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  switch (data[0] % 7) {
    case 0:
      RoundTrip(DecodeProtocolKey(bytes), bytes, kProtocolKeySize,
                [](const ProtocolKey& key) {
                  DescribeProtocolKey(key);
                  return EncodeProtocolKey(key);
                });
      break;
    case 1:
      RoundTrip(DecodeVersionKey(bytes), bytes, kVersionKeySize,
                [](const VersionKey& key) {
                  return EncodeVersionKey(key.protocol, key.version);
                });
      break;
    case 2:
      RoundTrip(DecodeTotalsKey(bytes), bytes, kTotalsKeySize,
                [](const TotalsKey& key) {
                  DescribeTotalsKey(key);
                  return EncodeTotalsKey(key);
                });
      break;
    case 3:
      RoundTrip(DecodeRevision(bytes), bytes, kRevisionKeySize,
                [](uint64_t revision) { return EncodeRevision(revision); });
      break;
    case 4:
      RoundTrip(DecodeConflictKey(bytes), bytes, kConflictKeySize,
                [](const ConflictKey& key) { return EncodeConflictKey(key); });
      break;
    case 5:
      RoundTrip(
          DecodeLatestValue(bytes), bytes, kLatestValueSize,
          [](const LatestValue& value) { return EncodeLatestValue(value); });
      break;
    case 6: {
      const std::string successor = PrefixSuccessor(bytes);
      if (successor.empty()) {
        FUZZ_CHECK(bytes.find_first_not_of('\xff') == std::string_view::npos);
      } else {
        FUZZ_CHECK(std::string(bytes) < successor);
        FUZZ_CHECK(std::string(bytes) + std::string(8, '\xff') < successor);
      }
      break;
    }
  }
  return 0;
}
