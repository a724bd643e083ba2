#include <faultline/sse/parser.hpp>

#include "../support/peak_rss.hpp"
#include "chunking.hpp"

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace sse = faultline::sse;
using sse_test::chunking;

namespace {

// Everything a handler sees, as text, in order: "E<type>|<data>|<id or ~>|<last id>" per event
// and "R<ms>" per retry.
struct recorder {
    std::vector<std::string> seen;
    void on_event(const sse::event& e) {
        seen.push_back("E" + std::string(e.type) + "|" + std::string(e.data) + "|" +
                       (e.id ? std::string(*e.id) : std::string("~")) + "|" +
                       std::string(e.last_event_id));
    }
    void on_retry(std::chrono::milliseconds ms) {
        seen.push_back("R" + std::to_string(ms.count()));
    }
};

// Each event's data with the hint the parser passed along (the monitor's kind of handler).
struct hinted {
    std::vector<std::pair<std::string, bool>> seen;
    void on_event(const sse::event& e, sse::detail::data_hint h) {
        seen.emplace_back(std::string(e.data), h.quote_e);
    }
};

// Takes hints but declines them (as a validating monitor does).
struct hints_declined : hinted {
    [[nodiscard]] bool data_hints_wanted() const noexcept { return false; }
};

struct outcome {
    std::vector<std::string> seen;
    std::error_code ec;
};

outcome run(std::string_view in, chunking c, sse::parser_options opts = {},
            std::uint32_t seed = 7) {
    sse::parser<recorder> p(opts);
    outcome o;
    for (auto piece : sse_test::cut(in, c, seed)) {
        std::error_code ec;
        const std::size_t used = p.feed(piece, ec);
        if (ec) {
            o.ec = ec;
            BOOST_TEST(used <= piece.size());
            break;
        }
        BOOST_TEST(used == piece.size());
    }
    o.seen = std::move(p.handler().seen);
    return o;
}

// Runs `in` in all three modes (and a few seeds) and checks each gives `expected`.
void check(std::string_view in, const std::vector<std::string>& expected,
           sse::parser_options opts = {}, std::error_code want_ec = {}) {
    for (chunking c : sse_test::all_chunkings) {
        for (std::uint32_t seed : {1u, 7u, 0u}) {
            if (c != chunking::random && seed != 7u) continue;
            BOOST_TEST_CONTEXT(sse_test::to_string(c) << " seed " << seed) {
                const outcome o = run(in, c, opts, seed);
                BOOST_TEST(o.seen == expected, boost::test_tools::per_element());
                BOOST_TEST(o.ec == want_ec);
            }
        }
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(sse_parser)

// --- the examples of the WHATWG HTML standard, section 9.2.6 ---------------------------------

BOOST_AUTO_TEST_CASE(spec_stock_example) {
    check("data: YHOO\ndata: +2\ndata: 10\n\n", {"E|YHOO\n+2\n10|~|"});
}

BOOST_AUTO_TEST_CASE(spec_comment_and_ids_example) {
    check(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third "
          "event\n\n",
          {"E|first event|1|1", "E|second event||", "E| third event|~|"});
}

BOOST_AUTO_TEST_CASE(spec_empty_data_example) {
    // The last block is not followed by a blank line, so it is never dispatched.
    check("data\n\ndata\ndata\n\ndata:", {"E||~|", "E|\n|~|"});
}

BOOST_AUTO_TEST_CASE(spec_space_example) {
    check("data:test\n\ndata: test\n\n", {"E|test|~|", "E|test|~|"});
}

// --- line ends -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cr_lf_and_crlf_are_line_ends) {
    check("data: a\r\rdata: b\n\ndata: c\r\n\r\ndata: d\r\ndata: e\n\r",
          {"E|a|~|", "E|b|~|", "E|c|~|", "E|d\ne|~|"});
}

BOOST_AUTO_TEST_CASE(cr_at_the_end_of_a_piece_and_lf_at_the_start_of_the_next) {
    for (const char* second : {"\ndata: b\r\n\r\n", "data: b\r\n\r\n"}) {
        sse::parser<recorder> p;
        BOOST_TEST(!p.feed("data: a\r").has_error());
        BOOST_TEST(p.handler().seen.empty());
        // With CRLF split, the LF must not count as a second (blank) line.
        BOOST_TEST(!p.feed(second).has_error());
        const std::vector<std::string> want{"E|a\nb|~|"};
        BOOST_TEST(p.handler().seen == want, boost::test_tools::per_element());
    }
    sse::parser<recorder> p;
    BOOST_TEST(!p.feed("data: a\r").has_error());
    BOOST_TEST(!p.feed("\r").has_error()); // CR CR: a blank line
    const std::vector<std::string> want{"E|a|~|"};
    BOOST_TEST(p.handler().seen == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(lf_cr_is_two_line_ends) {
    check("data: a\n\rdata: b\n\n", {"E|a|~|", "E|b|~|"});
}

// --- BOM -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(one_leading_bom_is_stripped) {
    check("\xEF\xBB\xBF"
          "data: a\n\n",
          {"E|a|~|"});
    // A second BOM is part of the field name, which then matches nothing.
    check("\xEF\xBB\xBF\xEF\xBB\xBF"
          "data: a\n\ndata: b\n\n",
          {"E|b|~|"});
    // A BOM later in the stream is not special either.
    check("data: a\n\n\xEF\xBB\xBF"
          "data: b\n\n",
          {"E|a|~|"});
}

BOOST_AUTO_TEST_CASE(bom_split_across_pieces) {
    sse::parser<recorder> p;
    for (std::string_view piece : {"\xEF", "\xBB", "\xBF", "data: x\n\n"})
        BOOST_TEST(!p.feed(piece).has_error());
    const std::vector<std::string> want{"E|x|~|"};
    BOOST_TEST(p.handler().seen == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_incomplete_bom_is_data) {
    // "\xEF\xBB" then a line end: the first line is the field "\xEF\xBB", ignored.
    check("\xEF\xBB\ndata: a\n\n", {"E|a|~|"});
    check("\xEF\xBB"
          "data: a\n\n",
          {});
    check("\xEF"
          "data: a\n\ndata: b\n\n",
          {"E|b|~|"});
}

// --- fields ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(comments_are_ignored) {
    check(":\n: keep-alive\n:data: x\n\ndata: y\n\n", {"E|y|~|"});
}

BOOST_AUTO_TEST_CASE(field_without_colon_has_an_empty_value) {
    check("data\n\n", {"E||~|"});
    check("event\ndata: x\n\n", {"E|x|~|"});
    check("id\ndata: x\n\n", {"E|x||"});
}

BOOST_AUTO_TEST_CASE(only_one_leading_space_is_stripped) {
    check("data:  two\n\n", {"E| two|~|"});
    check("data:\ttab\n\n", {"E|\ttab|~|"});
    check("event:  spaced\ndata: x\n\n", {"E spaced|x|~|"});
    check("data: trailing \n\n", {"E|trailing |~|"});
}

BOOST_AUTO_TEST_CASE(unknown_fields_and_case_are_ignored) {
    check("Data: x\nfoo: bar\ndata : y\ndata: z\n\n", {"E|z|~|"});
}

BOOST_AUTO_TEST_CASE(event_type_applies_to_one_event_and_resets_without_dispatch) {
    check("event: a\ndata: 1\n\ndata: 2\n\n", {"Ea|1|~|", "E|2|~|"});
    // A blank line without data resets the type even though nothing is dispatched.
    check("event: a\n\ndata: 1\n\n", {"E|1|~|"});
    // The last event line wins.
    check("event: a\nevent: b\ndata: 1\n\n", {"Eb|1|~|"});
    check("event: a\nevent\ndata: 1\n\n", {"E|1|~|"});
}

BOOST_AUTO_TEST_CASE(id_is_sticky_and_per_event) {
    check("id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid\ndata: d\n\n",
          {"E|a|1|1", "E|b|~|1", "E|c|~|2", "E|d||"});
}

BOOST_AUTO_TEST_CASE(id_with_nul_is_ignored) {
    using namespace std::string_literals;
    check("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"s, {"E|a|1|1", "E|b|~|1"});
    check("id: 1\nid: 2\0\ndata: a\n\n"s, {"E|a|1|1"});
}

BOOST_AUTO_TEST_CASE(retry_digits_only) {
    check("retry: 1000\nretry: 10x\nretry: -1\nretry:  5\nretry\nretry: \nretry: 007\ndata: "
          "a\n\n",
          {"R1000", "R7", "E|a|~|"});
    check("retry: 99999999999999999999999\n",
          {"R" + std::to_string(std::chrono::milliseconds::max().count())});
}

BOOST_AUTO_TEST_CASE(data_lines_join_with_lf) {
    check("data: a\ndata\ndata: b\ndata:\n\n", {"E|a\n\nb\n|~|"});
}

BOOST_AUTO_TEST_CASE(nothing_is_dispatched_at_end_of_stream) {
    check("data: a\n\ndata: b\n", {"E|a|~|"});
    check("data: a\n\ndata: b", {"E|a|~|"});
    sse::parser<recorder> p;
    BOOST_TEST(!p.feed("data: a\n").has_error());
    BOOST_TEST(p.mid_event());
    p.reset_stream();
    BOOST_TEST(!p.mid_event());
    BOOST_TEST(!p.feed("\n").has_error());
    BOOST_TEST(p.handler().seen.empty());
}

BOOST_AUTO_TEST_CASE(bytes_pass_through_untouched) {
    using namespace std::string_literals;
    const std::string weird = "\xFF\xC0\x80\0\xED\xA0\x80 ok"s;
    check("data: " + weird + "\nevent: " + weird + "\n\n", {"E" + weird + "|" + weird + "|~|"});
}

BOOST_AUTO_TEST_CASE(openai_style_stream) {
    const std::string chunk =
        R"({"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]})";
    check("data: " + chunk + "\n\n: keep-alive\n\ndata: " + chunk + "\n\ndata: [DONE]\n\n",
          {"E|" + chunk + "|~|", "E|" + chunk + "|~|", "E|[DONE]|~|"});
}

// --- views and buffers -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(events_inside_one_piece_are_views_into_it) {
    struct where {
        std::string_view piece;
        int inside = 0, outside = 0;
        void on_event(const sse::event& e) {
            const bool in = e.data.data() >= piece.data() &&
                            e.data.data() + e.data.size() <= piece.data() + piece.size();
            (in ? inside : outside) += 1;
        }
    };
    const std::string a = "data: one\n\nevent: t\ndata: tw";
    const std::string b = "o\n\ndata: three\n\n";
    sse::parser<where> p;
    p.handler().piece = a;
    BOOST_TEST(!p.feed(a).has_error());
    p.handler().piece = b;
    BOOST_TEST(!p.feed(b).has_error());
    BOOST_TEST(p.handler().inside == 2);  // "one" and "three"
    BOOST_TEST(p.handler().outside == 1); // "two" was cut
}

BOOST_AUTO_TEST_CASE(handler_by_reference) {
    recorder r;
    sse::parser<recorder&> p({}, r);
    BOOST_TEST(!p.feed("data: x\n\n").has_error());
    BOOST_TEST(r.seen.size() == 1u);
}

// --- limits ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(line_limit) {
    sse::parser_options o;
    o.max_line = 16;
    // "data: " + 10 bytes = 16: fits exactly.
    check("data: 0123456789\n\n", {"E|0123456789|~|"}, o);
    check("data: a\n\ndata: 01234567890\n\n", {"E|a|~|"}, o, faultline::error::sse_line_too_long);
    // A comment counts too: limits apply to lines, whatever they hold.
    check(": 012345678901234\n", {}, o, faultline::error::sse_line_too_long);
    // Detected without a line end.
    check("data: 01234567890", {}, o, faultline::error::sse_line_too_long);
}

BOOST_AUTO_TEST_CASE(event_limit) {
    sse::parser_options o;
    o.max_event = 5;
    check("data: 12345\n\ndata: 12\ndata: 34\n\n", {"E|12345|~|", "E|12\n34|~|"}, o);
    check("data: 123456\n\n", {}, o, faultline::error::sse_event_too_large);
    check("data: 123\ndata: 45\n\n", {}, o, faultline::error::sse_event_too_large);
    // Five empty data lines are four bytes; six are five; seven are six.
    check("data\ndata\ndata\ndata\ndata\ndata\n\n", {"E|\n\n\n\n\n|~|"}, o);
    check("data\ndata\ndata\ndata\ndata\ndata\ndata\n\n", {}, o,
          faultline::error::sse_event_too_large);
}

BOOST_AUTO_TEST_CASE(an_error_is_reported_once_and_sticks) {
    sse::parser_options o;
    o.max_line = 8;
    sse::parser<recorder> p(o);
    std::error_code ec;
    BOOST_TEST(p.feed("data: x\n\ndata: 123456789\n\ndata: y\n\n", ec) == 9u);
    BOOST_TEST(ec == faultline::error::sse_line_too_long);
    BOOST_TEST(p.handler().seen.size() == 1u);
    BOOST_TEST(p.feed("data: z\n\n", ec) == 0u);
    BOOST_TEST(ec == faultline::error::sse_line_too_long);
    BOOST_TEST(p.error() == faultline::error::sse_line_too_long);
    BOOST_TEST(p.handler().seen.size() == 1u);
    BOOST_TEST((ec == faultline::category::server_error));
}

BOOST_AUTO_TEST_CASE(a_gigabyte_without_a_line_end_is_rejected_in_bounded_memory) {
    // Tracks the parser's buffer capacity by feeding 16 KiB pieces of one endless line.
    sse::parser<recorder> p; // default limits
    const std::string piece(16 * 1024, 'A');
    std::error_code ec;
    std::size_t fed = 0;
    p.feed("data: ", ec);
    BOOST_TEST(!ec);
    while (!ec && fed < (std::size_t{1} << 30)) {
        p.feed(piece, ec);
        fed += piece.size();
    }
    BOOST_TEST(ec == faultline::error::sse_line_too_long);
    // Rejected as soon as the line passed max_line, long before a gigabyte.
    BOOST_TEST(fed <= p.options().max_line + piece.size());
    BOOST_TEST(p.handler().seen.empty());
}

BOOST_AUTO_TEST_CASE(huge_data_across_many_lines_is_bounded_by_max_event) {
    sse::parser_options o;
    o.max_event = 1024 * 1024;
    sse::parser<recorder> p(o);
    const std::string piece = "data: " + std::string(1000, 'x') + "\n";
    std::error_code ec;
    std::size_t fed = 0;
    while (!ec && fed < (std::size_t{64} << 20)) {
        p.feed(piece, ec);
        fed += piece.size();
    }
    BOOST_TEST(ec == faultline::error::sse_event_too_large);
    // Each line adds 1001 bytes of data: the error comes on the line that passes max_event.
    BOOST_TEST(fed == (o.max_event / 1001 + 1) * piece.size());
}

BOOST_AUTO_TEST_CASE(random_chunkings_agree) {
    // A mixed stream through many seeds: every cut must give the one-piece events.
    const std::string in = "\xEF\xBB\xBF: hi\r\nid: 7\r\nevent: e\r\ndata: a\r\ndata: b\r\n\r\n"
                           "retry: 10\rdata: c\r\rdata\n\nid: x\nevent: f\n\ndata: tail";
    const outcome ref = run(in, chunking::all);
    BOOST_TEST(ref.seen.size() == 4u);
    for (std::uint32_t seed = 1; seed < 200; ++seed) {
        const outcome o = run(in, chunking::random, {}, seed);
        BOOST_TEST(o.seen == ref.seen, "seed " << seed);
    }
}

// --- lines of any size: fragments ------------------------------------------------------------

namespace {

// Takes fragments and joins them again, recording each event as `recorder` does, so a run with
// tiny limits can be compared with a run that holds everything.
struct joiner : recorder {
    std::string data;
    std::size_t fragments = 0;
    std::size_t longest_fragment = 0;
    bool in_event = false;
    std::vector<std::string> bad; // order violations
    void on_fragment(const sse::event_fragment& f) {
        ++fragments;
        if (f.first == in_event)
            bad.push_back("first flag wrong at fragment " + std::to_string(fragments));
        in_event = !f.last;
        if (f.first) data.clear();
        longest_fragment = std::max(longest_fragment, f.data.size());
        data.append(f.data);
        if (!f.last) return;
        BOOST_TEST(f.data.empty());
        seen.push_back("E" + std::string(f.type) + "|" + data + "|" +
                       (f.id ? std::string(*f.id) : std::string("~")) + "|" +
                       std::string(f.last_event_id));
    }
};

std::vector<std::string> joined(std::string_view in, chunking c, sse::parser_options o,
                                std::error_code& ec, std::uint32_t seed = 7) {
    sse::parser<joiner> p(o);
    for (auto piece : sse_test::cut(in, c, seed)) {
        (void)p.feed(piece, ec);
        if (ec) break;
        BOOST_TEST(p.buffered_bytes() <= 4 * (o.max_line + o.max_event) + 256);
    }
    const std::vector<std::string>& bad = p.handler().bad;
    BOOST_TEST(bad.empty(), (bad.empty() ? std::string() : bad.front()));
    return p.handler().seen;
}

} // namespace

BOOST_AUTO_TEST_CASE(fragments_join_to_what_a_parser_without_limits_dispatches) {
    const std::string big(200, 'B');
    const std::string inputs[] = {
        "data: " + big + "\n\n",
        "data:" + big + "\r\n\r\n",
        "event: image\nid: 7\ndata: " + big + "\n\n",
        "data: " + big + "\nevent: late\nid: 8\n\n", // fields after the data count
        "data: short\ndata: " + big + "\ndata: tail\n\n",
        "data: " + big + "\ndata:\ndata: " + big + "\r\r",
        ": " + big + "\ndata: after a long comment\n\n",
        "data: a\n" + std::string(30, 'x') + "\n\ndata: b\n\n", // unknown field: ignored
        "data: 1\ndata: 2\ndata: 3\ndata: 4\ndata: 5\ndata: 6\ndata: 7\n\n", // max_event
        "\xEF\xBB\xBF"
        "data: " +
            big + "\n\ndata: " + big + "\n", // last event unfinished
        "retry: 30\ndata: small\n\ndata: " + big + "\n\ndata: [DONE]\n\n",
    };
    sse::parser_options small;
    small.max_line = 16;
    small.max_event = 12;
    for (const std::string& in : inputs) {
        const outcome ref = run(in, chunking::all);
        BOOST_REQUIRE(!ref.ec);
        for (chunking c : sse_test::all_chunkings)
            for (std::uint32_t seed : {1u, 7u}) {
                BOOST_TEST_CONTEXT(sse_test::to_string(c)
                                   << " seed " << seed << " input " << in.substr(0, 40)) {
                    std::error_code ec;
                    BOOST_TEST(joined(in, c, small, ec, seed) == ref.seen,
                               boost::test_tools::per_element());
                    BOOST_TEST(!ec);
                }
            }
    }
}

BOOST_AUTO_TEST_CASE(fragments_are_opt_in_and_other_long_fields_still_fail) {
    sse::parser_options small;
    small.max_line = 16;
    // Without on_fragment: the typed errors as before.
    check("data: " + std::string(40, 'x') + "\n\n", {}, small, faultline::error::sse_line_too_long);
    // With it: an over-long event type or id cannot be fragmented.
    for (const std::string& in : {"event: " + std::string(40, 't') + "\ndata: x\n\n",
                                  "id: " + std::string(40, 'i') + "\ndata: x\n\n"}) {
        for (chunking c : sse_test::all_chunkings) {
            std::error_code ec;
            (void)joined(in, c, small, ec);
            BOOST_TEST((ec == faultline::error::sse_line_too_long), sse_test::to_string(c));
        }
    }
}

BOOST_AUTO_TEST_CASE(in_piece_fragments_are_views_of_the_piece_not_copies) {
    sse::parser_options small;
    small.max_line = 64;
    sse::parser<joiner> p(small);
    const std::string in = "data: " + std::string(10000, 'z') + "\n\n";
    std::error_code ec;
    BOOST_TEST(p.feed(in, ec) == in.size());
    BOOST_TEST(!ec);
    BOOST_TEST(p.handler().longest_fragment == 10000u); // one view, nothing gathered
    BOOST_TEST(p.buffered_bytes() <= 256u);
}

BOOST_AUTO_TEST_CASE(a_hundred_megabyte_data_line_passes_in_bounded_memory) {
    sse::parser_options o; // the defaults: 4 MiB line, 8 MiB event held at most
    o.max_line = 64 * 1024;
    o.max_event = 64 * 1024;
    struct counter {
        std::size_t bytes = 0, events = 0;
        void on_event(const sse::event&) { ++events; }
        void on_fragment(const sse::event_fragment& f) {
            bytes += f.data.size();
            events += f.last;
        }
    };
    sse::parser<counter> q(o);
    const std::string piece(64 * 1024, 'A');
    const std::size_t before = test_support::status_kib("VmRSS").value_or(0);
    const bool peak = test_support::reset_peak_rss();
    std::error_code ec;
    std::size_t most_held = 0;
    (void)q.feed("data: {\"b64\":\"", ec);
    // Pieces cut across the line at odd places too: 64 KiB, shifted by 7 bytes.
    for (int i = 0; i < 1600 && !ec; ++i) {
        (void)q.feed(std::string_view(piece).substr(0, 7), ec);
        (void)q.feed(std::string_view(piece).substr(7), ec);
        most_held = std::max(most_held, q.buffered_bytes());
    }
    (void)q.feed("\"}\n\ndata: [DONE]\n\n", ec);
    BOOST_TEST(!ec);
    BOOST_TEST(q.handler().bytes == 1600u * 64 * 1024 + 10);
    BOOST_TEST(q.handler().events == 2u);
    BOOST_TEST(most_held <= 128u * 1024);
    if (peak && test_support::rss_measures_the_code)
        BOOST_TEST(test_support::peak_growth_bytes(before) < std::size_t(4) << 20);
}

// Every line search the CPU can run against std::string_view's finds: at every length up to past
// two 64-byte steps, from several starts, with the line end (LF, CR, or CR before LF) anywhere or
// nowhere and a `"e` at every position (before, straddling and after the line end, cut short at
// the end). Each input sits alone in an allocation of its exact size, so a read past it is a heap
// overflow under ASan (the searches' prefetches never fault, and read nothing).
BOOST_AUTO_TEST_CASE(line_search_agrees_with_find_at_every_length_and_position) {
    namespace d = sse::detail;
    using search = std::size_t (*)(const char*, std::size_t, std::size_t, bool&) noexcept;
    struct entry {
        const char* name;
        search fn;
        bool hints; // writes `quote_e`
    };
    std::vector<entry> searches{{"plain", &d::find_eol_plain, true},
                                {"dispatched", &d::find_eol, true}};
#if defined(FAULTLINE_SSE_AVX2_LINES)
    if (__builtin_cpu_supports("avx2")) {
        searches.push_back({"avx2", &d::find_eol_avx2<true>, true});
        searches.push_back({"avx2, no hints", &d::find_eol_avx2<false>, false});
    }
#endif
    std::size_t checked = 0, with_pair = 0, cr_first = 0;
    const auto check = [&](const std::string& in) {
        const auto copy = std::make_unique<char[]>(in.size() + (in.empty() ? 1 : 0));
        std::memcpy(copy.get(), in.data(), in.size());
        for (std::size_t from : {std::size_t{0}, std::size_t{1}, std::size_t{33}}) {
            if (from > in.size()) continue;
            const std::size_t eol = std::min(in.find_first_of("\r\n", from), in.size());
            const bool pair = in.substr(from, eol - from).find("\"e") != std::string::npos;
            for (const auto& [name, fn, hints] : searches) {
                bool quote_e = !pair;
                BOOST_TEST(fn(copy.get(), from, in.size(), quote_e) == eol,
                           name << " from " << from << ": " << in);
                BOOST_TEST(quote_e == (hints ? pair : !pair),
                           name << " from " << from << ": " << in);
            }
            ++checked;
            with_pair += pair;
            cr_first += eol < in.size() && in[eol] == '\r';
        }
    };
    for (std::size_t n = 0; n <= 140; ++n) {
        for (std::size_t at_end = 0; at_end <= n; at_end += (n < 70 ? 1 : 13)) {
            for (const std::string_view end : {"\n", "\r", "\r\n"}) {
                std::string base(n, 'e'); // every byte an `e`: a stray quote makes a pair
                if (at_end < n) base.replace(at_end, std::min(end.size(), n - at_end), end);
                check(base);
                for (std::size_t at = 0; at < n; ++at) {
                    std::string in = base;
                    in[at] = '"';
                    check(in);
                }
                if (at_end == n) break; // no line end: the same input for every kind
            }
        }
    }
    BOOST_TEST(with_pair > checked / 4); // the inputs do hold pairs, before and after the end
    BOOST_TEST(with_pair < checked);
    BOOST_TEST(cr_first > checked / 4); // and CRs that end the line, alone or before an LF
}

// A handler that takes hints learns, for every event in every cutting and line end, that its
// data may hold `"e` whenever it does: a `"e` in any one of its lines, or cut by a piece boundary.
BOOST_AUTO_TEST_CASE(data_hints_never_hide_a_quote_e) {
    const std::string lines[] = {R"({"a":"b"})", R"({"p":"x","error":{}})",   R"("e)", R"(x"e)",
                                 R"({"q":"e"})", std::string(70, 'x') + "\"e"};
    std::string in;
    std::vector<std::string> want;
    for (const char* eol : {"\n", "\r\n", "\r"})
        for (const auto& a : lines)
            for (const auto& b : lines) {
                in += "data: " + a + eol + "data:" + b + eol + eol;
                want.push_back(a + "\n" + b);
                in += "data: " + a + eol + eol;
                want.push_back(a);
            }
    // A handler that declines hints gets the same events, each marked as maybe holding the pair.
    const auto check = [&]<class Handler>(Handler&&, bool declined) {
        for (chunking c : sse_test::all_chunkings) {
            BOOST_TEST_CONTEXT(sse_test::to_string(c) << (declined ? ", hints declined" : "")) {
                sse::parser<Handler> p;
                for (auto piece : sse_test::cut(in, c))
                    BOOST_TEST(!p.feed(piece).has_error());
                const auto& seen = p.handler().seen;
                BOOST_TEST_REQUIRE(seen.size() == want.size());
                for (std::size_t i = 0; i < seen.size(); ++i) {
                    BOOST_TEST(seen[i].first == want[i]);
                    if (declined || seen[i].first.find("\"e") != std::string::npos)
                        BOOST_TEST(seen[i].second, seen[i].first);
                }
            }
        }
    };
    check(hinted{}, false);
    check(hints_declined{}, true);
    // Whole, with LF line ends: each line is searched once from its start, so the hint is exact
    // (what makes a monitor skip its own scan of ordinary chunks).
    sse::parser<hinted> p;
    BOOST_TEST(!p.feed("data: {\"a\":\"b\"}\n\ndata: {\"a\":\"e\"}\n\n").has_error());
    BOOST_TEST_REQUIRE(p.handler().seen.size() == 2u);
    BOOST_TEST(!p.handler().seen[0].second);
    BOOST_TEST(p.handler().seen[1].second);
}

BOOST_AUTO_TEST_SUITE_END()
