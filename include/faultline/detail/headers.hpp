#ifndef FAULTLINE_DETAIL_HEADERS_HPP
#define FAULTLINE_DETAIL_HEADERS_HPP

#include <faultline/headers.hpp>

#include <concepts>
#include <string_view>
#include <type_traits>

namespace faultline::detail {

template <class T>
concept beast_like_field = requires(const T& f) {
    { f.name_string() } -> std::convertible_to<std::string_view>;
    { f.value() } -> std::convertible_to<std::string_view>;
};

template <class T>
concept pair_like_field = requires(const T& f) {
    { f.first } -> std::convertible_to<std::string_view>;
    { f.second } -> std::convertible_to<std::string_view>;
};

// Calls f(name, value) for every header of a Beast `http::fields`, a range of pairs
// (std::vector, std::map, std::multimap, ...), or `no_headers`.
template <class Headers, class F>
void for_each_header(const Headers& headers, F&& f) {
    if constexpr (std::is_same_v<Headers, no_headers>) {
        (void)headers;
        (void)f;
    } else {
        for (const auto& h : headers) {
            using field = std::remove_cvref_t<decltype(h)>;
            if constexpr (beast_like_field<field>)
                f(std::string_view(h.name_string()), std::string_view(h.value()));
            else {
                static_assert(pair_like_field<field>,
                              "headers must be a range of name/value pairs or Beast fields");
                f(std::string_view(h.first), std::string_view(h.second));
            }
        }
    }
}

} // namespace faultline::detail

#endif
