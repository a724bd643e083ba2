#ifndef FAULTLINE_DETAIL_CONFIG_HPP
#define FAULTLINE_DETAIL_CONFIG_HPP

// Included first by every public header: faultline needs C++20, and says so before the first
// C++20 name would fail with a less helpful message.

#if defined(_MSVC_LANG) ? _MSVC_LANG < 202002L : __cplusplus < 202002L
#error "faultline needs C++20: compile with -std=c++20 (or -std=gnu++20, /std:c++20)"
#endif

#endif
