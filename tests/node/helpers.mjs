// Shared helpers for the tests that drive turbopuffer's official TypeScript client
// (@turbopuffer/turbopuffer, pinned in package.json) against a vecpuff server.
//
// run.sh starts the server and sets VECPUFF_URL; every test file builds its client here.
// Expected values are computed in JS from the data the tests wrote (seeded, so every run
// writes the same data), never taken from the server.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Turbopuffer, { APIError } from '@turbopuffer/turbopuffer';

export const BASE_URL = process.env.VECPUFF_URL;
if (!BASE_URL) {
  throw new Error('VECPUFF_URL is not set: run the suite through tests/node/run.sh');
}

// Request options that switch the client's retries off. The client retries 408/409/429/5xx
// and connection errors (4 times by default, 6 for write(), which sets maxRetries itself
// unless the call's options override it), which would make a failing test slow.
export const NO_RETRY = Object.freeze({ maxRetries: 0 });

// A client pointed at the server under test. `region: undefined` falls back to
// $TURBOPUFFER_REGION (run.sh unsets it), i.e. null: with a baseURL that has no {region}
// placeholder a region must not be set.
export function client(options = {}) {
  return new Turbopuffer({
    apiKey: 'test',
    baseURL: BASE_URL,
    region: undefined,
    maxRetries: 0,
    timeout: 60_000,
    ...options,
  });
}

// Namespace names unique to this run and this test: node-<area>-<run>-<n>.
const RUN = randomBytes(4).toString('hex');
let counter = 0;
export function nsName(area) {
  counter += 1;
  return `node-${area}-${RUN}-${counter}`;
}

// Deterministic PRNG (mulberry32): the tests write the same data on every run.
export function rng(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A vector of `dims` values in [-1, 1), already representable as 32-bit floats so that what
// the server stores (f32) is exactly what the test computes with.
export function randomVector(next, dims) {
  const v = [];
  for (let i = 0; i < dims; i++) v.push(Math.fround(next() * 2 - 1));
  return v;
}

export const f32 = (v) => v.map((x) => Math.fround(x));

// Distances as turbopuffer defines them: cosine_distance = 1 - cos(a, b),
// euclidean_squared = sum((a - b)^2). Computed in double from the f32 values.
export function cosineDistance(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return 1 - dot / Math.sqrt(na * nb);
}

export function euclideanSquared(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

export function distance(metric, a, b) {
  if (metric === 'cosine_distance') return cosineDistance(a, b);
  if (metric === 'euclidean_squared') return euclideanSquared(a, b);
  throw new Error(`unknown metric ${metric}`);
}

// The exact top k of `docs` ({id, vector}) for query `q`: [{id, dist}], nearest first.
export function exactTopK(docs, q, k, metric) {
  return docs
    .map((d) => ({ id: d.id, dist: distance(metric, f32(q), d.vector) }))
    .sort((x, y) => x.dist - y.dist || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
    .slice(0, k);
}

// |actual - expected| within 1e-5, relative for values above 1.
export function assertClose(actual, expected, what = 'value', tol = 1e-5) {
  assert.equal(typeof actual, 'number', `${what}: expected a number, got ${JSON.stringify(actual)}`);
  const bound = tol * Math.max(1, Math.abs(expected));
  assert.ok(
    Math.abs(actual - expected) <= bound,
    `${what}: got ${actual}, expected ${expected} (tolerance ${bound})`,
  );
}

// Vectors as base64: the little-endian bytes of the 32-bit floats.
export function vectorToBase64(v) {
  const buf = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => buf.writeFloatLE(x, i * 4));
  return buf.toString('base64');
}

export function base64ToVector(s) {
  const buf = Buffer.from(s, 'base64');
  assert.equal(buf.length % 4, 0, `base64 vector of ${buf.length} bytes`);
  const v = [];
  for (let i = 0; i < buf.length; i += 4) v.push(buf.readFloatLE(i));
  return v;
}

// A returned vector (float array) equals the f32 values written.
export function assertVectorEqual(actual, expected, what = 'vector') {
  assert.ok(Array.isArray(actual), `${what}: expected a float array, got ${JSON.stringify(actual)}`);
  assert.deepEqual(f32(actual), f32(expected), what);
}

// Awaits `promise`, which must reject with an APIError of class `ErrorClass` and HTTP
// `status`, whose body is turbopuffer's error shape {"status":"error","error":"<message>"}.
// Returns the error.
export async function expectApiError(promise, ErrorClass, status) {
  let err;
  try {
    const value = await promise;
    assert.fail(`expected ${ErrorClass.name} (${status}), got success: ${JSON.stringify(value)}`);
  } catch (e) {
    err = e;
  }
  if (err instanceof assert.AssertionError) throw err;
  assert.ok(err instanceof APIError, `expected an APIError, got ${err && err.stack ? err.stack : err}`);
  assert.ok(
    err instanceof ErrorClass,
    `expected ${ErrorClass.name}, got ${err.constructor.name}: ${err.message}`,
  );
  assert.equal(err.status, status, err.message);
  assert.ok(err.error && typeof err.error === 'object', `error body is not JSON: ${err.message}`);
  assert.equal(err.error.status, 'error', `error body: ${JSON.stringify(err.error)}`);
  assert.equal(typeof err.error.error, 'string', `error body: ${JSON.stringify(err.error)}`);
  assert.ok(err.error.error.length > 0, 'error message is empty');
  return err;
}

// Every document of a namespace with all attributes, ascending by id (rank_by id asc).
export async function allRows(ns, extra = {}) {
  const res = await ns.query({ rank_by: ['id', 'asc'], top_k: 10_000, include_attributes: true, ...extra });
  return res.rows ?? [];
}

export async function ids(ns, filters, extra = {}) {
  const res = await ns.query({ rank_by: ['id', 'asc'], top_k: 10_000, ...(filters ? { filters } : {}), ...extra });
  return (res.rows ?? []).map((r) => r.id);
}

// A row without its vector, for comparing attributes.
export function withoutVector(row) {
  const { vector, ...rest } = row;
  return rest;
}

export const sortIds = (list) => [...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

export async function sleep(ms) {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

// Polls `check` (async, returns truthy when done) every 200 ms for at most `timeoutMs`.
export async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}
