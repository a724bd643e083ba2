#ifndef FAULTLINE_EXAMPLES_COMMON_WIRE_HPP
#define FAULTLINE_EXAMPLES_COMMON_WIRE_HPP

// An HTTP message as the bytes that go on the wire, serialized by Beast into one string: a
// message written from it leaves in one write of one buffer. Beast's own async_write hands the
// socket a buffer per header field and walks that sequence again on every partial write. And
// the bytes that came off the wire already, parsed before the next read. Not part of
// faultline's API.

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <memory_resource>
#include <string>
#include <type_traits>

namespace examples {

/// Header fields whose elements come from a memory resource (`fields_arena`) instead of one
/// heap allocation each: for a message built, serialized and dropped in one place.
using arena_fields = boost::beast::http::basic_fields<std::pmr::polymorphic_allocator<char>>;

/// `Size` bytes for one message's fields, handed out in order and given back all at once when
/// the arena goes; past them more comes from the heap. Lives as long as the message it serves.
template <std::size_t Size>
class fields_arena {
public:
    fields_arena() = default;
    fields_arena(const fields_arena&) = delete;
    fields_arena& operator=(const fields_arena&) = delete;

    /// The allocator to construct `arena_fields` with.
    [[nodiscard]] std::pmr::polymorphic_allocator<char> allocator() noexcept { return &resource_; }

private:
    alignas(std::max_align_t) std::byte buffer_[Size];
    std::pmr::monotonic_buffer_resource resource_{buffer_, Size};
};

/// Appends `m` to `out` as Beast writes it: the header, then (unless `header_only`, for a body
/// that follows in chunks of its own) the body in the framing the header announces (a length,
/// chunks, or none for a status or method without a body). Errors: the body writer's own (a
/// string body has none); `out` then holds what was serialized before it.
template <bool isRequest, class Body, class Fields>
boost::beast::error_code serialize(boost::beast::http::message<isRequest, Body, Fields>& m,
                                   std::string& out, bool header_only = false) {
    namespace net = boost::asio;
    namespace http = boost::beast::http;
    constexpr bool string_body = std::is_same_v<Body, http::string_body>;
    if constexpr (string_body || std::is_same_v<Body, http::empty_body>) {
        if (header_only || !m.chunked()) {
            // The head from the fields' own writer, the algorithm the serializer writes a header
            // with, walked once: the serializer's wrapping of the same buffers (to be consumed in
            // pieces) costs several times the copy. Then the body, which a length (or none) puts
            // on the wire as it is.
            const auto append_head = [&out](const typename Fields::writer& w) {
                for (const net::const_buffer b : w.get())
                    out.append(static_cast<const char*>(b.data()), b.size());
            };
            if constexpr (isRequest)
                append_head(typename Fields::writer(m, m.version(), m.method()));
            else
                append_head(typename Fields::writer(m, m.version(), m.result_int()));
            if constexpr (string_body)
                if (!header_only) out.append(m.body());
            return {};
        }
    }
    // Chunks, or a body of another kind: the serializer frames it.
    http::serializer<isRequest, Body, Fields> sr{m};
    sr.split(header_only);
    boost::beast::error_code ec;
    while (!ec && !(header_only ? sr.is_header_done() : sr.is_done()))
        sr.next(ec, [&](boost::beast::error_code&, const auto& buffers) {
            // One walk of the sequence (a buffer per header field): its size and a copy would
            // be two.
            std::size_t n = 0;
            for (const net::const_buffer b : boost::beast::buffers_range_ref(buffers)) {
                out.append(static_cast<const char*>(b.data()), b.size());
                n += b.size();
            }
            sr.consume(n);
        });
    return ec;
}

/// Feeds `parser` what `buffer` already holds, as Beast's read loop does before it reads, until
/// `done()` or the bytes run out: a message (or a body's next chunks) that arrived whole needs
/// no read and no deadline. Returns the bytes parsed; `ec` is a parse error (running out of
/// bytes or of body space is none: a read follows).
template <class Parser, class DynamicBuffer, class Done>
std::size_t parse_buffered(Parser& parser, DynamicBuffer& buffer, Done done,
                           boost::beast::error_code& ec) {
    namespace http = boost::beast::http;
    std::size_t parsed = 0;
    while (buffer.size() != 0 && !done()) {
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        parsed += used;
        if (ec == http::error::need_more || ec == http::error::need_buffer) {
            ec = {};
            break;
        }
        if (ec || used == 0) break;
    }
    return parsed;
}

} // namespace examples

#endif
