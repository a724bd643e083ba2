#ifndef FAULTLINE_DETAIL_CONFIG_HPP
#define FAULTLINE_DETAIL_CONFIG_HPP

// Included first by every public header: faultline needs C++20, and says so before the first
// C++20 name would fail with a less helpful message.

#if defined(_MSVC_LANG) ? _MSVC_LANG < 202002L : __cplusplus < 202002L
#error "faultline needs C++20: compile with -std=c++20 (or -std=gnu++20, /std:c++20)"
#endif

// Inlines the calls in a function's body into it (GCC and Clang; nothing elsewhere): for the few
// hot functions whose callees the inliner would leave out of line.
#if defined(__GNUC__) || defined(__clang__)
#define FAULTLINE_FLATTEN [[gnu::flatten]]
#else
#define FAULTLINE_FLATTEN
#endif

#endif
