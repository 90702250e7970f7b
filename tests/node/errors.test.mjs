// Errors as the official client sees them: the exception class for the status (400 →
// BadRequestError, 404 → NotFoundError), the status, and turbopuffer's error body
// {"status":"error","error":"<message>"}; a rejected request changes nothing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Turbopuffer, { APIConnectionError, BadRequestError, NotFoundError } from '@turbopuffer/turbopuffer';
import { NO_RETRY, client, expectApiError, ids, nsName } from './helpers.mjs';

const tpuf = client();
const T = { timeout: 60_000 };

async function created() {
  const ns = tpuf.namespace(nsName('errors'));
  await ns.write(
    {
      upsert_rows: [
        { id: 1, vector: [1, 0], tags: ['a', 'b'], n: 1, s: 'x' },
        { id: 2, vector: [0, 1], tags: ['c'], n: 2, s: 'y' },
      ],
      distance_metric: 'euclidean_squared',
    },
    NO_RETRY,
  );
  return ns;
}

describe('not found', () => {
  test('a namespace never written: query, metadata, schema raise NotFoundError (404)', T, async () => {
    const ns = tpuf.namespace(nsName('errors'));
    const err = await expectApiError(ns.query({ rank_by: ['vector', 'ANN', [1, 0]], top_k: 5 }), NotFoundError, 404);
    assert.match(err.message, /^404 /);
    await expectApiError(ns.query({ rank_by: ['id', 'asc'], top_k: 5 }), NotFoundError, 404);
    await expectApiError(ns.metadata(), NotFoundError, 404);
    await expectApiError(ns.schema(), NotFoundError, 404);
    await expectApiError(ns.multiQuery({ queries: [{ rank_by: ['id', 'asc'], top_k: 1 }] }), NotFoundError, 404);
  });
});

describe('bad requests', () => {
  test('a vector of the wrong dimensions is a BadRequestError (400) and stores nothing', T, async () => {
    const ns = await created();
    const err = await expectApiError(
      ns.write({ upsert_rows: [{ id: 3, vector: [1, 2, 3] }] }, NO_RETRY),
      BadRequestError,
      400,
    );
    assert.match(err.message, /^400 /);
    assert.deepEqual(await ids(ns), [1, 2]);
  });

  test('a query vector of the wrong dimensions is a BadRequestError', T, async () => {
    const ns = await created();
    await expectApiError(ns.query({ rank_by: ['vector', 'ANN', [1, 2, 3]], top_k: 5 }), BadRequestError, 400);
  });

  test('a filter whose value does not fit the attribute type is a BadRequestError', T, async () => {
    const ns = await created();
    await expectApiError(
      ns.query({ rank_by: ['id', 'asc'], top_k: 5, filters: ['tags', 'Contains', ['a', 'b']] }),
      BadRequestError,
      400,
    );
    await expectApiError(
      ns.query({ rank_by: ['id', 'asc'], top_k: 5, filters: ['tags', 'ContainsAny', 'a'] }),
      BadRequestError,
      400,
    );
    // Writes by filter validate their filter the same way and change nothing.
    await expectApiError(ns.write({ delete_by_filter: ['tags', 'Contains', ['a']] }, NO_RETRY), BadRequestError, 400);
    assert.deepEqual(await ids(ns), [1, 2]);
  });

  test('an invalid namespace name is a BadRequestError', T, async () => {
    const ns = tpuf.namespace('node-errors-bad name!');
    await expectApiError(
      ns.write({ upsert_rows: [{ id: 1, vector: [1, 0] }], distance_metric: 'euclidean_squared' }, NO_RETRY),
      BadRequestError,
      400,
    );
    const tooLong = tpuf.namespace(`node-errors-${'x'.repeat(130)}`);
    await expectApiError(
      tooLong.write({ upsert_rows: [{ id: 1, vector: [1, 0] }], distance_metric: 'euclidean_squared' }, NO_RETRY),
      BadRequestError,
      400,
    );
  });

  test('mixing id types in one namespace is a BadRequestError', T, async () => {
    const ns = await created(); // unsigned integer ids
    await expectApiError(ns.write({ upsert_rows: [{ id: 'three', vector: [1, 1] }] }, NO_RETRY), BadRequestError, 400);
    assert.deepEqual(await ids(ns), [1, 2]);
  });

  test('an attribute value of another type than the attribute is a BadRequestError', T, async () => {
    const ns = await created(); // n is an int, s a string
    await expectApiError(
      ns.write({ upsert_rows: [{ id: 3, vector: [1, 1], n: 'three' }] }, NO_RETRY),
      BadRequestError,
      400,
    );
    await expectApiError(ns.write({ patch_rows: [{ id: 1, s: 5 }] }, NO_RETRY), BadRequestError, 400);
    const rows = await ns.query({ rank_by: ['id', 'asc'], top_k: 10, include_attributes: ['n', 's'] });
    assert.deepEqual(rows.rows, [{ id: 1, n: 1, s: 'x' }, { id: 2, n: 2, s: 'y' }]);
  });

  test('400 errors are not retried, even when the client would retry', T, async () => {
    const retrying = client({ maxRetries: 3 }).namespace(nsName('errors'));
    await retrying.write({ upsert_rows: [{ id: 1, vector: [1, 0] }], distance_metric: 'euclidean_squared' });
    const started = Date.now();
    await expectApiError(retrying.write({ upsert_rows: [{ id: 2, vector: [1, 0, 0] }] }), BadRequestError, 400);
    // A retry waits at least 0.5 s first (the client's backoff); none happened.
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
  });
});

describe('connection', () => {
  test('an unreachable server is an APIConnectionError', T, async () => {
    const dead = new Turbopuffer({ apiKey: 'test', baseURL: 'http://127.0.0.1:1', maxRetries: 0, timeout: 5_000 });
    await assert.rejects(dead.namespace('x').metadata(), APIConnectionError);
  });
});
