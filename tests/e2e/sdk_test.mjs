// The Anthropic TypeScript SDK (npm @anthropic-ai/sdk, pinned in package.json) against cc-relay,
// which forwards to ccr_mock_upstream. Run by sdk_test.sh, which starts both and passes:
//   RELAY_URL       http://127.0.0.1:PORT of the relay
//   CLIENT_KEY      the SDK's apiKey (the relay must replace it with PROVIDER_KEY)
//   PROVIDER_KEY    the key of the provider "mock"
//   MOCK_REQUESTS   the mock's request log (JSON lines)
//   MODELS          JSON array: the ids GET /v1/models must list, in order
//   MODEL           a model only the provider "mock" serves
//   DEAD_MODEL      a model only the provider "dead" (a closed port) serves
// Every check that fails throws; the process then exits 1 with the reason on stderr.
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import assert from 'node:assert/strict';

import Anthropic from '@anthropic-ai/sdk';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
};
const RELAY_URL = env('RELAY_URL');
const CLIENT_KEY = env('CLIENT_KEY');
const PROVIDER_KEY = env('PROVIDER_KEY');
const MOCK_REQUESTS = env('MOCK_REQUESTS');
const MODELS = JSON.parse(env('MODELS'));
const MODEL = env('MODEL');
const DEAD_MODEL = env('DEAD_MODEL');
const MOCK_TEXT = 'Hello from the mock upstream.';
const MOCK_OUTPUT_TOKENS = 15;  // the mock answers 15 output tokens, streaming or not

// Every request the SDK puts on the wire, as sent: the relay must deliver the same body upstream.
const sent = [];
const recordingFetch = async (input, init) => {
  const body = init?.body;
  sent.push({
    url: String(input instanceof Request ? input.url : input),
    method: init?.method ?? 'GET',
    headers: new Headers(init?.headers),
    body: typeof body === 'string' ? body : null,
  });
  return fetch(input, init);
};

const client = new Anthropic({
  apiKey: CLIENT_KEY,
  baseURL: RELAY_URL,
  maxRetries: 0,  // a relay error must reach the test, not be retried away
  timeout: 30_000,
  fetch: recordingFetch,
});

function mockRows() {
  if (!existsSync(MOCK_REQUESTS)) return [];
  return readFileSync(MOCK_REQUESTS, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// The upstream request that the latest SDK call produced: exactly one new row, credentials
// replaced, the SDK's headers and body forwarded unchanged.
let seenRows = 0;
function expectForwarded(what, { target, stream }) {
  const rows = mockRows();
  const expected = seenRows + 1;
  seenRows = rows.length;  // a failed check does not cascade into the next ones
  assert.equal(rows.length, expected, `${what}: requests that reached the mock upstream`);
  const row = rows.at(-1);
  const req = sent.at(-1);
  assert.equal(row.method, 'POST', `${what}: upstream method`);
  assert.equal(row.target, target, `${what}: upstream target`);
  assert.equal(row.stream, stream, `${what}: upstream stream flag`);
  assert.equal(row.headers['x-api-key'], PROVIDER_KEY, `${what}: upstream x-api-key`);
  assert.equal(row.headers['authorization'], undefined,
               `${what}: the client's Authorization: Bearer must not reach the upstream`);
  assert.ok(!JSON.stringify(row).includes(CLIENT_KEY), `${what}: client key reached the upstream`);
  assert.equal(req.headers.get('authorization'), `Bearer ${CLIENT_KEY}`,
               `${what}: the SDK sent its apiKey as a Bearer token`);
  for (const h of ['anthropic-version', 'user-agent', 'x-stainless-package-version']) {
    assert.equal(row.headers[h], req.headers.get(h) ?? undefined, `${what}: header ${h} forwarded`);
  }
  assert.ok(req.body !== null, `${what}: the SDK sent a string body`);
  assert.equal(row.body_bytes, Buffer.byteLength(req.body), `${what}: upstream body length`);
  assert.equal(row.body_sha256, createHash('sha256').update(req.body).digest('hex'),
               `${what}: upstream body differs from the SDK's`);
  return row;
}

function expectNothingForwarded(what) {
  const expected = seenRows;
  seenRows = mockRows().length;
  assert.equal(seenRows, expected, `${what}: no request may reach the mock upstream`);
}

const messages = [{ role: 'user', content: 'Say hello' }];
const checks = [];
const check = (name, fn) => checks.push([name, fn]);

check('streaming messages.create', async () => {
  const stream = await client.messages.create({
    model: MODEL, max_tokens: 64, messages, stream: true,
  });
  const types = [];
  let text = '';
  let start;
  let delta;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'message_start') start = event.message;
    if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
      text += event.delta.text;
    }
    if (event.type === 'message_delta') delta = event;
  }
  assert.equal(types[0], 'message_start', `first event (got ${types})`);
  assert.equal(types.at(-1), 'message_stop', `last event (got ${types})`);
  for (const t of ['content_block_start', 'content_block_delta', 'content_block_stop',
                   'message_delta']) {
    assert.ok(types.includes(t), `event ${t} missing (got ${types})`);
  }
  assert.ok(types.filter((t) => t === 'content_block_delta').length > 1,
            'the text arrives in several deltas');
  assert.equal(text, MOCK_TEXT, 'assembled text');
  assert.equal(start.model, MODEL, 'message_start model');
  assert.ok(start.usage.input_tokens > 0, 'message_start usage.input_tokens');
  assert.equal(delta.delta.stop_reason, 'end_turn', 'message_delta stop_reason');
  assert.equal(delta.usage.output_tokens, MOCK_OUTPUT_TOKENS, 'final usage.output_tokens');
  expectForwarded('streaming create', { target: '/v1/messages', stream: true });
});

check('messages.stream finalMessage', async () => {
  const events = [];
  const stream = client.messages.stream({ model: MODEL, max_tokens: 64, messages });
  stream.on('text', (t) => events.push(t));
  const final = await stream.finalMessage();
  assert.equal(events.join(''), MOCK_TEXT, 'text events');
  assert.equal(final.content.length, 1, 'final content blocks');
  assert.equal(final.content[0].type, 'text');
  assert.equal(final.content[0].text, MOCK_TEXT, 'final text');
  assert.equal(final.stop_reason, 'end_turn');
  assert.ok(final.usage.input_tokens > 0, 'final usage.input_tokens');
  assert.equal(final.usage.output_tokens, MOCK_OUTPUT_TOKENS, 'final usage.output_tokens');
  expectForwarded('messages.stream', { target: '/v1/messages', stream: true });
});

check('non-streaming messages.create', async () => {
  const { data: message, response } = await client.messages
    .create({ model: MODEL, max_tokens: 64, messages })
    .withResponse();
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  assert.ok(response.headers.get('request-id'), 'a request-id header');
  assert.equal(message.type, 'message');
  assert.equal(message.role, 'assistant');
  assert.equal(message.model, MODEL);
  assert.equal(message.content[0].text, MOCK_TEXT);
  assert.equal(message.stop_reason, 'end_turn');
  assert.ok(message.usage.input_tokens > 0, 'usage.input_tokens');
  assert.equal(message.usage.output_tokens, MOCK_OUTPUT_TOKENS, 'usage.output_tokens');
  expectForwarded('non-streaming create', { target: '/v1/messages', stream: false });
});

check('messages.countTokens', async () => {
  const result = await client.messages.countTokens({ model: MODEL, messages });
  const row = expectForwarded('countTokens',
                              { target: '/v1/messages/count_tokens', stream: false });
  // The mock counts one token per 4 body bytes: the count is the mock's, for this very body.
  assert.equal(result.input_tokens, Math.floor(row.body_bytes / 4), 'input_tokens');
});

check('models.list', async () => {
  const ids = [];
  for await (const model of client.models.list()) {
    assert.equal(model.type, 'model');
    ids.push(model.id);
  }
  assert.deepEqual(ids, MODELS, 'models listed by the relay');
  const paged = [];
  for await (const model of client.models.list({ limit: 1 })) paged.push(model.id);
  assert.deepEqual(paged, MODELS, 'models listed one per page (after_id pagination)');
  const one = await client.models.retrieve(MODELS[1]);
  assert.equal(one.id, MODELS[1], 'models.retrieve');
  expectNothingForwarded('models (answered by the relay)');
});

async function expectApiError(what, promise, status, type) {
  let err;
  try {
    const result = await promise;
    if (result && typeof result[Symbol.asyncIterator] === 'function') {
      for await (const event of result) void event;
    }
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: the call succeeded, expected HTTP ${status}`);
  assert.ok(err instanceof Anthropic.APIError, `${what}: expected an APIError, got ${err}`);
  assert.equal(err.status, status, `${what}: status (${err.message})`);
  assert.equal(err.error?.type, 'error', `${what}: body type`);
  assert.equal(err.error?.error?.type, type, `${what}: error type (${err.message})`);
  assert.equal(err.type, type, `${what}: APIError.type`);
  assert.ok(err.requestID, `${what}: request id of the error`);
}

check('unreachable provider -> 502 api_error', async () => {
  const params = { model: DEAD_MODEL, max_tokens: 64, messages };
  await expectApiError('non-streaming', client.messages.create(params), 502, 'api_error');
  await expectApiError('streaming', client.messages.create({ ...params, stream: true }), 502,
                       'api_error');
  await expectApiError('count_tokens', client.messages.countTokens({ model: DEAD_MODEL, messages }),
                       502, 'api_error');
  await expectApiError('unknown model id', client.models.retrieve('claude-no-such-model'), 404,
                       'not_found_error');
  expectNothingForwarded('errors');
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok   [sdk] ${name}`);
  } catch (e) {
    failed++;
    console.error(`FAIL [sdk] ${name}: ${e?.stack ?? e}`);
  }
}
if (failed) {
  console.error(`${failed} of ${checks.length} SDK checks failed`);
  process.exit(1);
}
console.log(`all ${checks.length} SDK checks passed`);
