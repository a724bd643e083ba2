#ifndef FAULTLINE_HPP
#define FAULTLINE_HPP

#include <faultline/detail/config.hpp>

// Everything faultline offers that needs nothing beyond Boost (the Redis limiter and the Asio
// adapter have their own headers).

#include <faultline/error.hpp>
#include <faultline/headers.hpp>
#include <faultline/http_status.hpp>
#include <faultline/result.hpp>
#include <faultline/failure.hpp>
#include <faultline/envelope.hpp>
#include <faultline/retry_after.hpp>
#include <faultline/classify.hpp>
#include <faultline/exchange.hpp>
#include <faultline/diagnose.hpp>
#include <faultline/sse/parser.hpp>
#include <faultline/sse/error_scan.hpp>
#include <faultline/sse/monitor.hpp>
#include <faultline/sse/writer.hpp>
#include <faultline/limit/clock.hpp>
#include <faultline/limit/token_bucket.hpp>
#include <faultline/limit/keyed.hpp>
#include <faultline/limit/composite.hpp>
#include <faultline/limit/concurrency.hpp>
#include <faultline/limit/adaptive.hpp>
#include <faultline/limit/priority.hpp>
#include <faultline/limit/headers.hpp>
#include <faultline/limit/pacer.hpp>
#include <faultline/limit/refuse.hpp>
#include <faultline/random.hpp>
#include <faultline/retry/backoff.hpp>
#include <faultline/retry/policy.hpp>
#include <faultline/retry/retry.hpp>
#include <faultline/retry/budget.hpp>
#include <faultline/retry/circuit_breaker.hpp>
#include <faultline/retry/channel_pool.hpp>
#include <faultline/pipeline.hpp>

#endif
