#ifndef FAULTLINE_TESTS_SUPPORT_HELD_PERMITS_HPP
#define FAULTLINE_TESTS_SUPPORT_HELD_PERMITS_HPP

// A limit of calls in flight as a retry loop's `admission` and `admission_ended`: each admitted
// attempt takes a permit of the limiter and holds it here; each ended attempt gives one back.

#include <faultline/limit/concurrency.hpp>

#include <boost/test/unit_test.hpp>

#include <vector>

namespace test_support {

struct held_permits {
    faultline::limit::concurrency_limiter* limiter;
    std::vector<faultline::limit::permit> held{};
    int ended = 0; // calls of `admission_ended`

    // Sets `o.admission` and `o.admission_ended`; this object must outlive the loops they run.
    template <class Options>
    void attach(Options& o) {
        o.admission = [this](auto) {
            faultline::limit::permit p = limiter->try_acquire();
            const faultline::limit::decision d = p.result();
            if (p) held.push_back(std::move(p));
            return d;
        };
        o.admission_ended = [this](auto) {
            BOOST_TEST_REQUIRE(!held.empty());
            held.pop_back();
            ++ended;
        };
    }
};

} // namespace test_support

#endif
