#include "domain/stream_name.hpp"

namespace dealerline::domain {

std::string stream_name(std::string_view category, std::string_view id) {
    std::string out;
    out.reserve(category.size() + 1 + id.size());
    out.append(category).push_back('-');
    out.append(id);
    return out;
}

std::string_view category_of(std::string_view stream) noexcept {
    const auto dash = stream.find('-');
    return dash == std::string_view::npos ? stream : stream.substr(0, dash);
}

}  // namespace dealerline::domain
