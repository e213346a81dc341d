// Stored events as the deciders read them: the first byte picks the aggregate and the schema
// version, the rest is "type\0data". Decoding says no or gives an event that encodes and decodes
// to the same stored form.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "domain/codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

template <class Aggregate>
void round_trip(std::string_view type, std::uint32_t version, std::string_view data) {
    using namespace dealerline::domain;
    auto event = codec::decode<Aggregate>(type, version, data);
    if (!event) return;
    const auto stored = codec::encode(*event);
    auto again = codec::decode<Aggregate>(stored.type, stored.schema_version, stored.data);
    fuzz_check(again.has_value(), "an encoded event does not decode");
    const auto restored = codec::encode(*again);
    fuzz_check(restored.type == stored.type && restored.data == stored.data, "an event changed in its round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    using namespace dealerline::domain;
    if (size < 2) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(bytes + 1), size - 1);
    const auto zero = rest.find('\0');
    if (zero == std::string_view::npos) return 0;
    const auto type = rest.substr(0, zero), data = rest.substr(zero + 1);
    const std::uint32_t version = 1u + (bytes[0] >> 4) % 3u;
    switch (bytes[0] % 8) {
        case 0: round_trip<dealer_aggregate>(type, version, data); break;
        case 1: round_trip<order_aggregate>(type, version, data); break;
        case 2: round_trip<claim_aggregate>(type, version, data); break;
        case 3: round_trip<stock_aggregate>(type, version, data); break;
        case 4: round_trip<invoice_aggregate>(type, version, data); break;
        case 5: round_trip<payment_aggregate>(type, version, data); break;
        case 6: round_trip<credit_note_aggregate>(type, version, data); break;
        default: round_trip<subscription_aggregate>(type, version, data); break;
    }
    return 0;
}
