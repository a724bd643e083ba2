#ifndef FAULTLINE_LIMIT_IMPL_COMPOSITE_HPP
#define FAULTLINE_LIMIT_IMPL_COMPOSITE_HPP

#include <algorithm>
#include <utility>

namespace faultline::limit {

namespace detail_composite {

template <std::size_t I, class TimePoint, class Tuple, std::size_t N>
void acquire_from(TimePoint now, const Tuple& levels, composite_decision<N>& out) {
    if constexpr (I < N) {
        const auto& lv = std::get<I>(levels);
        out.levels[I] = lv.acquire(now);
        if (out.levels[I].admitted) {
            acquire_from<I + 1>(now, levels, out);
            if (!out.admitted) lv.rollback(now);
        } else {
            out.refused = I;
            out.retry_after = out.levels[I].retry_after;
        }
    } else {
        out.admitted = true;
    }
}

template <std::size_t I, class TimePoint, class Tuple, std::size_t N>
void peek_after(TimePoint now, const Tuple& levels, composite_decision<N>& out) {
    if constexpr (I < N) {
        if (I > out.refused) {
            out.levels[I] = std::get<I>(levels).peek(now);
            if (!out.levels[I].admitted)
                out.retry_after = std::max(out.retry_after, out.levels[I].retry_after);
        }
        peek_after<I + 1>(now, levels, out);
    }
}

} // namespace detail_composite

template <class TimePoint, class... Levels>
composite_decision<sizeof...(Levels)> acquire_all(TimePoint now, const Levels&... levels) {
    composite_decision<sizeof...(Levels)> out;
    const auto tuple = std::tie(levels...);
    detail_composite::acquire_from<0>(now, tuple, out);
    if (!out.admitted) detail_composite::peek_after<0>(now, tuple, out);
    if (out.admitted) out.refused = sizeof...(Levels);
    return out;
}

} // namespace faultline::limit

#endif
