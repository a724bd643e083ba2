'use strict';
// Conformance: faultline's example gateway as the official openai npm client (openai-node, the
// version pinned in package.json) sees it. Started by run.sh, which passes the gateway's URL in
// FAULTLINE_GATEWAY_URL and its log file in FAULTLINE_GATEWAY_LOG. Tests run one after another:
// they share the gateway's limits, so each scenario has its own key or model, as in
// examples/demo/run.
//
// openai-node's retry rules, from node_modules/openai/client.js (shouldRetry, retryRequest,
// calculateDefaultRetryTimeoutMillis; the same code as src/client.ts in github.com/openai/openai-node):
// - `x-should-retry: true` or `false` is obeyed outright; without it 408, 409, 429 and every
//   status >= 500 are retried, other statuses are not;
// - the wait is `retry-after-ms`, else `Retry-After` (seconds, or an HTTP date), else
//   0.5 s * 2^retry capped at 8 s, less up to 25 % jitter;
// - connection errors and timeouts are retried; an error inside a stream is thrown as APIError
//   with no status, never retried.
// The gateway sends x-should-retry on every error, so its intent, not the status, decides.

const nodeTest = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const OpenAI = require('openai');

const origin = process.env.FAULTLINE_GATEWAY_URL;
const gatewayLog = process.env.FAULTLINE_GATEWAY_LOG;
assert.ok(origin, 'FAULTLINE_GATEWAY_URL is not set: start this through run.sh');

// Every case is bounded: the slowest (the gateway's stream time limit) takes about 3 s.
const test = (name, fn) => nodeTest(name, { timeout: 20000 }, fn);

// The SDK waits between attempts through internal/utils/sleep.js (one module instance, shared
// with client.js). Replaced here, each wait the SDK decides on is recorded and returns at once:
// retries are observed without sleeping.
const sleepModule = require(
  path.join(path.dirname(require.resolve('openai')), 'internal', 'utils', 'sleep.js'));
const waits = [];
sleepModule.sleep = async (ms) => {
  waits.push(ms);
};

// A client whose fetch records every attempt: its status, headers and x-request-id.
function client({ apiKey = 'sk-demo-alice', baseURL = `${origin}/v1`, maxRetries = 0,
  timeout = 30000 } = {}) {
  const calls = [];
  const sdk = new OpenAI({
    apiKey,
    baseURL,
    maxRetries,
    timeout,
    fetch: async (url, init) => {
      try {
        const res = await fetch(url, init);
        calls.push({ url: String(url), status: res.status, headers: res.headers });
        return res;
      } catch (e) {
        calls.push({ url: String(url), error: e });
        throw e;
      }
    },
  });
  waits.length = 0;
  return { sdk, calls };
}

const chat = (sdk, model = 'gpt-sim', extra = {}) =>
  sdk.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });

async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to fail');
}

async function drain(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

// Every attempt reached the gateway and is in its request log (one line per request).
function assertLogged(calls) {
  const log = fs.readFileSync(gatewayLog, 'utf8');
  for (const c of calls) {
    const id = c.headers && c.headers.get('x-request-id');
    assert.ok(id, `attempt to ${c.url} has no x-request-id`);
    assert.match(log, new RegExp(` id=${id}\\b`), `request ${id} is not in the gateway's log`);
  }
}

// The wait the gateway asks for: retry-after-ms, and a Retry-After in whole seconds that agrees.
function askedWaitMs(headers) {
  const ms = headers.get('retry-after-ms');
  const s = headers.get('retry-after');
  assert.ok(ms !== null && s !== null, 'a retryable refusal names its wait in both headers');
  assert.match(s, /^\d+$/);
  assert.ok(Number(s) === Math.ceil(Number(ms) / 1000), `retry-after ${s} vs retry-after-ms ${ms}`);
  return Number(ms);
}

function assertEnvelope(e, { cls, status, code, type, param = null, retry }) {
  assert.ok(e instanceof cls, `expected ${cls.name}, got ${e && e.constructor.name}: ${e}`);
  assert.equal(e.status, status);
  assert.equal(e.code, code);
  if (type !== undefined) assert.equal(e.type, type);
  assert.equal(e.param, param);
  if (retry !== undefined) assert.equal(e.headers.get('x-should-retry'), retry);
  assert.ok(e.requestID, 'the error carries the x-request-id');
}

// --- successes --------------------------------------------------------------------------------

test('a completion', async () => {
  const { sdk, calls } = client();
  const r = await chat(sdk);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'gpt-sim');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(calls.length, 1);
  assertLogged(calls);
});

test('a stream ends with [DONE] and a finish_reason', async () => {
  const { sdk } = client();
  const chunks = await drain(await chat(sdk, 'gpt-sim', { stream: true }));
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.ok(text.length > 0);
  assert.ok(chunks.some((c) => c.choices[0]?.finish_reason === 'stop'));
});

test('the model list', async () => {
  const { sdk } = client();
  const ids = [];
  for await (const m of sdk.models.list()) ids.push(m.id);
  assert.ok(ids.includes('gpt-sim') && ids.includes('sim-429'), ids.join(','));
});

test('heartbeat comments in a quiet stream are ignored by the SDK', async () => {
  const { sdk } = client();
  const chunks = await drain(await chat(sdk, 'sim-slow', { stream: true }));
  assert.ok(chunks.some((c) => c.choices[0]?.finish_reason === 'stop'));
});

test('a failed channel fails over within one attempt', async () => {
  const { sdk, calls } = client({ maxRetries: 2 });
  const r = await chat(sdk, 'sim-failover').withResponse();
  assert.ok(r.data.choices[0].message.content.length > 0);
  assert.equal(r.response.headers.get('x-faultline-failover'), 'dead-1');
  assert.equal(calls.length, 1);
});

// --- the Responses API ------------------------------------------------------------------------
// POST /v1/responses through the gateway. A stream ends with the upstream's own
// `response.completed` (no `[DONE]`); an error inside it is the API's `event: error`, which
// openai-node yields as an event of type 'error' (core/streaming.js throws only for a `data.error`
// member, and `error` events of thread streams).

const respond = (sdk, model = 'gpt-sim', extra = {}) =>
  sdk.responses.create({ model, input: 'hi', ...extra });

test('Responses API: a response, and the SDK reads its output_text', async () => {
  const { sdk, calls } = client();
  const r = await respond(sdk);
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, 'Failing well means saying what broke, whether to');
  assert.equal(r.usage.output_tokens, 8);
  assert.equal(calls.length, 1);
  assertLogged(calls);
});

test('Responses API: a stream ends with response.completed, not [DONE]', async () => {
  const { sdk } = client();
  const events = await drain(await respond(sdk, 'gpt-sim', { stream: true }));
  assert.equal(events[0].type, 'response.created');
  assert.equal(events.at(-1).type, 'response.completed');
  assert.equal(events.at(-1).response.status, 'completed');
  const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta);
  assert.equal(text.join(''), 'Failing well means saying what broke, whether to');
});

test("Responses API: the upstream's error event becomes the gateway's, redacted", async () => {
  const { sdk, calls } = client({ maxRetries: 2 });
  const events = await drain(await respond(sdk, 'sim-midstream-error', { stream: true }));
  assert.equal(calls.length, 1); // a stream that started is never retried by the SDK
  const last = events.at(-1);
  assert.equal(last.type, 'error');
  assert.equal(last.code, 'internal_error');
  assert.equal(last.message, 'Service temporarily unavailable');
  assert.equal(last.param, null);
  assert.equal(last.sequence_number, events.length - 1);
  assert.ok(events.some((e) => e.type === 'response.output_text.delta'));
  assert.ok(!events.some((e) => e.type === 'response.completed'));
});

test('Responses API: a cut stream ends with a stream_truncated error event', async () => {
  const { sdk } = client();
  const events = await drain(await respond(sdk, 'sim-upstream-cutoff', { stream: true }));
  assert.equal(events.at(-1).type, 'error');
  assert.equal(events.at(-1).code, 'stream_truncated');
});

test('Responses API: 400 names input, 404 names model', async () => {
  const { sdk } = client({ maxRetries: 2 });
  assertEnvelope(await rejection(sdk.responses.create({ model: 'gpt-sim', input: [] })),
    { cls: OpenAI.BadRequestError, status: 400, code: 'invalid_request', param: 'input',
      retry: 'false' });
  assertEnvelope(await rejection(respond(sdk, 'no-such-model')),
    { cls: OpenAI.NotFoundError, status: 404, code: 'model_not_found', param: 'model',
      retry: 'false' });
});

// --- the base URL -----------------------------------------------------------------------------

test('404: a base URL without /v1 is told the base URL to use', async () => {
  const { sdk, calls } = client({ baseURL: origin, maxRetries: 2 });
  const e = await rejection(chat(sdk));
  assertEnvelope(e, { cls: OpenAI.NotFoundError, status: 404, code: 'missing_v1_path',
    type: 'invalid_request_error', retry: 'false' });
  assert.equal(new URL(calls[0].url).pathname, '/chat/completions');
  assert.ok(e.message.includes(`Use the base URL ${origin}/v1.`), e.message);
  assert.equal(calls.length, 1);
});

test('404: a base URL with /v1 twice is told to keep one', async () => {
  const { sdk, calls } = client({ baseURL: `${origin}/v1/v1`, maxRetries: 2 });
  const e = await rejection(chat(sdk));
  assertEnvelope(e, { cls: OpenAI.NotFoundError, status: 404, code: 'duplicated_v1_path',
    retry: 'false' });
  assert.ok(e.message.includes(`Use the base URL ${origin}/v1 with an OpenAI SDK`), e.message);
  assert.equal(calls.length, 1);
});

test('404: a base URL without /v1 for the model list too', async () => {
  const { sdk } = client({ baseURL: origin });
  const e = await rejection(sdk.models.list());
  assertEnvelope(e, { cls: OpenAI.NotFoundError, status: 404, code: 'missing_v1_path' });
});

// --- requests the gateway refuses -------------------------------------------------------------

test('401: a wrong key, not retried', async () => {
  const { sdk, calls } = client({ apiKey: 'sk-not-a-key', maxRetries: 2 });
  const e = await rejection(chat(sdk));
  assertEnvelope(e, { cls: OpenAI.AuthenticationError, status: 401, code: 'invalid_api_key',
    type: 'authentication_error', retry: 'false' });
  assert.equal(calls.length, 1);
  assertLogged(calls);
});

// Keys pasted from a dashboard (reference 000, "channel test"): the gateway names the problem,
// never the key. A character above U+00FF never leaves the client: the SDK's request headers
// refuse it (a TypeError, not an APIError, and no attempt is made).
test('401: keys with stray whitespace or invisible characters', async () => {
  const rows = [
    [' sk-demo-alice', 'leading or trailing whitespace'],
    ['sk-demo-alice\u00a0', 'invisible or control character'],
  ];
  for (const [apiKey, hint] of rows) {
    const { sdk, calls } = client({ apiKey, maxRetries: 2 });
    const e = await rejection(chat(sdk));
    assertEnvelope(e, { cls: OpenAI.AuthenticationError, status: 401, code: 'invalid_api_key',
      retry: 'false' });
    assert.ok(e.message.includes(hint), e.message);
    assert.ok(!e.message.includes('sk-demo-alice'), 'the key is never echoed');
    assert.equal(calls.length, 1);
  }
  const { sdk, calls } = client({ apiKey: 'sk-demo-alice\u200b', maxRetries: 2 });
  const e = await rejection(chat(sdk));
  assert.ok(e instanceof TypeError && /ByteString/.test(e.message), String(e));
  assert.equal(calls.length, 0);
});

test('401: an empty key', async () => {
  const { sdk } = client({ apiKey: '' });
  const e = await rejection(chat(sdk));
  assertEnvelope(e, { cls: OpenAI.AuthenticationError, status: 401, code: 'invalid_api_key' });
});

test('404: an unknown model names the parameter', async () => {
  const { sdk, calls } = client({ maxRetries: 2 });
  const e = await rejection(chat(sdk, 'openai/unknown-model'));
  assertEnvelope(e, { cls: OpenAI.NotFoundError, status: 404, code: 'model_not_found',
    param: 'model', retry: 'false' });
  assert.equal(calls.length, 1);
});

test('400: over the context window names messages', async () => {
  const { sdk, calls } = client({ maxRetries: 2 });
  const e = await rejection(chat(sdk, 'gpt-sim', { max_tokens: 9000 }));
  assertEnvelope(e, { cls: OpenAI.BadRequestError, status: 400, code: 'context_length_exceeded',
    param: 'messages', retry: 'false' });
  assert.equal(calls.length, 1);
});

test('400: bad parameters are named', async () => {
  const rows = [
    [{ max_tokens: 0 }, 'max_tokens'],
    [{ max_tokens: 2000000 }, 'max_tokens'],
    [{ stream: 'yes' }, 'stream'],
    [{ messages: [] }, 'messages'],
    [{ model: '' }, 'model'],
  ];
  for (const [extra, param] of rows) {
    const { sdk, calls } = client({ maxRetries: 2 });
    const e = await rejection(chat(sdk, 'gpt-sim', extra));
    assertEnvelope(e, { cls: OpenAI.BadRequestError, status: 400, code: 'invalid_request', param,
      retry: 'false' });
    assert.equal(calls.length, 1);
  }
});

test('405: the wrong method', async () => {
  const { sdk, calls } = client({ maxRetries: 2 });
  const e = await rejection(sdk.get('/chat/completions'));
  assert.ok(e instanceof OpenAI.APIError && e.status === 405, String(e));
  assert.equal(e.headers.get('allow'), 'POST');
  assert.equal(e.headers.get('x-should-retry'), 'false');
  assert.equal(calls.length, 1);
});

test('413: a body over the gateway limit, not retried', async () => {
  const { sdk, calls } = client({ maxRetries: 2 });
  const e = await rejection(chat(sdk, 'gpt-sim', {
    messages: [{ role: 'user', content: 'x'.repeat(9 << 20) }] }));
  assert.ok(e instanceof OpenAI.APIError && e.status === 413, String(e));
  assert.equal(e.code, 'payload_too_large');
  assert.equal(e.headers.get('x-should-retry'), 'false');
  assert.equal(calls.length, 1);
});

// --- rate limits: retried after the wait the gateway names, or not at all --------------------

test('429 token-level RPM: retried after exactly the wait the gateway names', async () => {
  const { sdk: warm } = client({ apiKey: 'sk-demo-limited' });
  await chat(warm);
  await chat(warm);
  const { sdk, calls } = client({ apiKey: 'sk-demo-limited', maxRetries: 2 });
  const e = await rejection(chat(sdk));
  assertEnvelope(e, { cls: OpenAI.RateLimitError, status: 429, code: 'rpm_exceeded',
    type: 'rate_limit_error', retry: 'true' });
  assert.match(e.message, /token-level/);
  assert.equal(calls.length, 3); // maxRetries + 1: the gateway said retry each time
  assert.deepEqual(waits, calls.slice(0, 2).map((c) => askedWaitMs(c.headers)));
  assert.ok(waits.every((w) => w > 1000 && w <= 30000), waits.join(','));
  assertLogged(calls);
});

test('429 user-level RPM: two keys of one user share the limit', async () => {
  for (const key of ['sk-demo-dave-1', 'sk-demo-dave-2', 'sk-demo-dave-1']) {
    const { sdk } = client({ apiKey: key });
    await chat(sdk);
  }
  const { sdk, calls } = client({ apiKey: 'sk-demo-dave-2', maxRetries: 1 });
  const e = await rejection(chat(sdk));
  assertEnvelope(e, { cls: OpenAI.RateLimitError, status: 429, code: 'rpm_exceeded', retry: 'true' });
  assert.match(e.message, /user-level/);
  assert.equal(calls.length, 2);
  assert.deepEqual(waits, [askedWaitMs(calls[0].headers)]);
});

test('429 tokens per minute', async () => {
  const { sdk: warm } = client({ apiKey: 'sk-demo-tpm' });
  await chat(warm, 'gpt-sim', { max_tokens: 990 });
  const { sdk, calls } = client({ apiKey: 'sk-demo-tpm', maxRetries: 1 });
  const e = await rejection(chat(sdk, 'gpt-sim', { max_tokens: 990 }));
  assertEnvelope(e, { cls: OpenAI.RateLimitError, status: 429, code: 'tpm_exceeded', retry: 'true' });
  assert.equal(calls.length, 2);
  assert.deepEqual(waits, [askedWaitMs(calls[0].headers)]);
});

test('429 concurrency: a second stream while the first is open', async () => {
  const { sdk: first } = client({ apiKey: 'sk-demo-solo' });
  const open = await chat(first, 'sim-slow', { stream: true });
  const it = open[Symbol.asyncIterator]();
  await it.next(); // the first stream holds the key's one slot
  const { sdk, calls } = client({ apiKey: 'sk-demo-solo' });
  const e = await rejection(chat(sdk, 'sim-slow', { stream: true }));
  assertEnvelope(e, { cls: OpenAI.RateLimitError, status: 429, code: 'concurrency_exceeded',
    retry: 'true' });
  assert.equal(calls.length, 1);
  for (let r = await it.next(); !r.done; r = await it.next());
});

test('429 from the provider: its Retry-After passed through and honoured', async () => {
  const { sdk, calls } = client({ maxRetries: 1 });
  const e = await rejection(chat(sdk, 'sim-429'));
  assertEnvelope(e, { cls: OpenAI.RateLimitError, status: 429, code: 'rpm_exceeded', retry: 'true' });
  assert.match(e.message, /upstream-level/);
  assert.equal(calls[0].headers.get('retry-after'), '2');
  assert.equal(calls.length, 2);
  assert.deepEqual(waits, [askedWaitMs(calls[0].headers)]);
  assert.equal(waits[0], 2000);
});

test("429 upstream-level: the gateway's own limit towards a channel", async () => {
  const { sdk: warm } = client();
  await chat(warm, 'sim-upstream-limited');
  const { sdk, calls } = client({ maxRetries: 1 });
  const e = await rejection(chat(sdk, 'sim-upstream-limited'));
  assertEnvelope(e, { cls: OpenAI.RateLimitError, status: 429, code: 'rpm_exceeded', retry: 'true' });
  assert.match(e.message, /upstream-level/);
  assert.equal(calls.length, 2);
  assert.deepEqual(waits, [askedWaitMs(calls[0].headers)]);
});

test('429 spend limit: x-should-retry false overrides the SDK retrying every 429', async () => {
  const { sdk: warm } = client({ apiKey: 'sk-demo-budget' });
  await chat(warm);
  const { sdk, calls } = client({ apiKey: 'sk-demo-budget', maxRetries: 3 });
  const e = await rejection(chat(sdk));
  assertEnvelope(e, { cls: OpenAI.RateLimitError, status: 429, code: 'spend_limit_exceeded',
    retry: 'false' });
  assert.equal(calls.length, 1);
  assert.deepEqual(waits, []);
  assertLogged(calls);
});

// --- upstream failures ------------------------------------------------------------------------

test('an upstream 503 every other call: a retryable 502, retried with the SDK backoff', async () => {
  const { sdk, calls } = client({ maxRetries: 2 });
  const r = await chat(sdk, 'sim-flaky');
  assert.ok(r.choices[0].message.content.length > 0);
  // The gateway answers for its upstream: 502 upstream_unavailable, retry.
  assert.deepEqual(calls.map((c) => c.status), [502, 200]);
  assert.equal(calls[0].headers.get('x-should-retry'), 'true');
  assert.equal(calls[0].headers.get('retry-after'), null); // no hint: the SDK's own backoff
  assert.equal(waits.length, 1);
  assert.ok(waits[0] >= 375 && waits[0] <= 500, String(waits[0]));
  assertLogged(calls);
});

test("500: the upstream's details are redacted, the event_id is given", async () => {
  const { sdk, calls } = client();
  const e = await rejection(chat(sdk, 'sim-500'));
  assertEnvelope(e, { cls: OpenAI.InternalServerError, status: 500, code: 'internal_error',
    retry: 'true' });
  assert.ok(!e.message.includes('worker.go'), e.message);
  assert.match(String(e.error.event_id), /^[0-9a-f]+$/);
  assert.match(fs.readFileSync(gatewayLog, 'utf8'), new RegExp(`event_id=${e.error.event_id}.*worker\\.go:88`));
  assert.equal(calls.length, 1);
});

test("502 from an upstream's HTML error page: the gateway's own envelope, retryable", async () => {
  const { sdk, calls } = client({ maxRetries: 1 });
  const e = await rejection(chat(sdk, 'sim-502'));
  assertEnvelope(e, { cls: OpenAI.InternalServerError, status: 502, code: 'upstream_unavailable',
    type: 'upstream_error', retry: 'true' });
  assert.ok(!e.message.includes('nginx'), e.message);
  assert.equal(calls.length, 2);
  assert.ok(calls.every((c) => c.headers.get('content-type') === 'application/json'));
  assert.equal(waits.length, 1); // no hint: the SDK's own backoff
});

test('502 from a dead channel: retried, then 503 once its breaker opens', async () => {
  const { sdk, calls } = client({ maxRetries: 4 });
  const e = await rejection(chat(sdk, 'sim-dead'));
  assert.equal(calls.length, 5);
  assert.ok(calls.every((c) => c.headers.get('x-should-retry') === 'true'));
  assertEnvelope(e, { cls: OpenAI.InternalServerError, status: 503, code: 'no_available_channel',
    retry: 'true' });
  // Once open, the breaker names its cool-down and the SDK waits exactly that.
  const firstOpen = calls.findIndex((c) => c.status === 503);
  assert.ok(firstOpen > 0, calls.map((c) => c.status).join(','));
  assert.ok(calls.slice(0, firstOpen).every((c) => c.status === 502));
  assert.ok(calls.slice(firstOpen).every((c) => c.status === 503));
  for (let i = firstOpen; i < calls.length - 1; ++i)
    assert.equal(waits[i], askedWaitMs(calls[i].headers));
});

test('504: the upstream did not answer in time', async () => {
  const { sdk, calls } = client();
  const e = await rejection(chat(sdk, 'sim-timeout'));
  assertEnvelope(e, { cls: OpenAI.InternalServerError, status: 504, code: 'upstream_timeout',
    retry: 'true' });
  assert.equal(calls.length, 1);
});

test('529: an Anthropic-style overload is a retryable server error', async () => {
  const { sdk, calls } = client();
  const e = await rejection(chat(sdk, 'sim-529'));
  assert.ok(e instanceof OpenAI.InternalServerError, String(e));
  assert.equal(e.status, 529);
  assert.equal(e.headers.get('x-should-retry'), 'true');
  assert.equal(calls.length, 1);
});

// --- streams that fail ------------------------------------------------------------------------

// An error chunk is thrown by the SDK's stream iterator as APIError without a status.
async function streamError(model) {
  const { sdk, calls } = client({ maxRetries: 2 });
  const stream = await chat(sdk, model, { stream: true });
  const seen = [];
  const e = await rejection((async () => {
    for await (const c of stream) seen.push(c);
  })());
  assert.ok(e instanceof OpenAI.APIError, String(e));
  assert.equal(e.status, undefined);
  assert.equal(calls.length, 1); // a stream that started is never retried by the SDK
  return { e, seen };
}

test('mid-stream error chunk after content', async () => {
  const { e, seen } = await streamError('sim-midstream-error');
  assert.equal(e.code, 'stream_error');
  assert.ok(seen.length > 0);
});

test('the upstream cut its stream: an error chunk says so', async () => {
  const { e } = await streamError('sim-upstream-cutoff');
  assert.equal(e.code, 'stream_truncated');
});

// A 6 MiB base64 image in one data line (reference 000: "large base64 responses are truncated"):
// the gateway relays it in pieces within its 1 MiB stream budget, and the SDK gets it whole.
test('a 6 MiB base64 line arrives whole, not cut and not refused', async () => {
  const { sdk, calls } = client({ maxRetries: 2 });
  const chunks = await drain(await chat(sdk, 'sim-huge-line', { stream: true }));
  assert.equal(calls.length, 1);
  const images = chunks.flatMap((c) => c.choices[0]?.delta?.images ?? []);
  assert.equal(images.length, 1);
  assert.equal(images[0].image_url.url, 'data:image/png;base64,' + 'A'.repeat(6 * 1024 * 1024));
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
});

test("the gateway's streaming time limit", async () => {
  const { e, seen } = await streamError('sim-long');
  assert.equal(e.code, 'stream_timeout');
  assert.ok(seen.length > 0);
});

// The gateway drops the connection mid-body: the SDK's iterator throws undici's "terminated"
// (not an APIError: the SDK does not wrap errors while reading a stream) after the content so far,
// none of which had a finish_reason.
test('a stream cut without [DONE]: the SDK throws "terminated", no finish_reason', async () => {
  const { sdk, calls } = client({ maxRetries: 2 });
  const stream = await chat(sdk, 'sim-cutoff', { stream: true });
  const seen = [];
  const e = await rejection((async () => {
    for await (const c of stream) seen.push(c);
  })());
  assert.ok(!(e instanceof OpenAI.APIError), String(e));
  assert.equal(e.message, 'terminated');
  assert.equal(e.cause && e.cause.code, 'UND_ERR_SOCKET');
  assert.ok(seen.length > 0);
  assert.ok(seen.every((c) => !c.choices[0]?.finish_reason));
  assert.equal(calls.length, 1);
});

// --- transport --------------------------------------------------------------------------------

test('APIConnectionError: nothing listening, retried with the SDK backoff', async () => {
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const { sdk, calls } = client({ baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 2 });
  const e = await rejection(chat(sdk));
  assert.ok(e instanceof OpenAI.APIConnectionError, String(e));
  assert.ok(!(e instanceof OpenAI.APIConnectionTimeoutError));
  assert.equal(calls.length, 3);
  assert.ok(calls.every((c) => c.error));
  assert.equal(waits.length, 2);
});

test('APIConnectionTimeoutError: the SDK gives up on a slow upstream before the gateway does',
  async () => {
    const { sdk, calls } = client({ maxRetries: 1, timeout: 300 });
    const e = await rejection(chat(sdk, 'sim-timeout'));
    assert.ok(e instanceof OpenAI.APIConnectionTimeoutError, String(e));
    assert.equal(calls.length, 2);
    assert.equal(waits.length, 1);
  });
