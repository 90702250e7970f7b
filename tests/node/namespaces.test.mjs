// Namespace-level calls through the official client: metadata, schema and updateSchema,
// deleteAll, exists, hintCacheWarm, and namespaces() listing with prefix and paging.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundError } from '@turbopuffer/turbopuffer';
import { NO_RETRY, client, expectApiError, ids, nsName, waitFor } from './helpers.mjs';

const tpuf = client();
const T = { timeout: 60_000 };

const ROWS = [
  { id: 1, vector: [0.1, 0.2, 0.3], name: 'one', count: 1, score: 0.5, flag: true, tags: ['a'], nums: [1, 2] },
  { id: 2, vector: [0.4, 0.5, 0.6], name: 'two', count: 2, score: 1.5, flag: false, tags: ['b', 'c'], nums: [3] },
  { id: 3, vector: [0.7, 0.8, 0.9], name: 'three', count: 3, score: 2.5, flag: true, tags: [], nums: [4] },
  { id: 4, vector: [1.0, 1.1, 1.2], name: 'four', count: 4, score: 3.5, flag: false, tags: ['d'], nums: [5, 6] },
  { id: 5, vector: [1.3, 1.4, 1.5], name: 'five', count: 5, score: 4.5, flag: true, tags: ['e'], nums: [7] },
];

async function created(rows = ROWS, extra = {}) {
  const ns = tpuf.namespace(nsName('ns'));
  await ns.write({ upsert_rows: rows, distance_metric: 'cosine_distance', ...extra }, NO_RETRY);
  return ns;
}

describe('metadata', () => {
  test('metadata reports created_at, schema, index status and, once indexed, the row count', T, async () => {
    const before = Date.now();
    const ns = await created();
    const md = await ns.metadata();
    assert.equal(typeof md.created_at, 'string', JSON.stringify(md));
    const createdAt = Date.parse(md.created_at);
    assert.ok(Number.isFinite(createdAt), `created_at is not a timestamp: ${md.created_at}`);
    assert.ok(createdAt >= before - 5_000 && createdAt <= Date.now() + 5_000, `created_at ${md.created_at}`);
    assert.equal(typeof md.updated_at, 'string', JSON.stringify(md));
    assert.ok(Date.parse(md.updated_at) >= createdAt - 1_000, `updated_at ${md.updated_at}`);
    assert.equal(typeof md.approx_row_count, 'number', JSON.stringify(md));
    assert.equal(typeof md.approx_logical_bytes, 'number', JSON.stringify(md));
    assert.ok(['up-to-date', 'updating'].includes(md.index?.status), JSON.stringify(md.index));
    if (md.index.status === 'updating') assert.equal(typeof md.index.unindexed_bytes, 'number', JSON.stringify(md.index));
    assert.equal(md.schema?.name?.type, 'string', JSON.stringify(md.schema));
    assert.equal(md.schema?.count?.type, 'int', JSON.stringify(md.schema));
    assert.equal(md.schema?.vector?.type, '[3]f32', JSON.stringify(md.schema));

    // The background indexer catches up; then the approximate row count is the row count.
    const indexed = await waitFor(async () => {
      const m = await ns.metadata();
      return m.index?.status === 'up-to-date' ? m : null;
    }, 30_000, 'index.status up-to-date');
    assert.equal(indexed.approx_row_count, ROWS.length, JSON.stringify(indexed));
    assert.equal(indexed.created_at, md.created_at);
  });
});

describe('schema', () => {
  test('schema() reflects the types inferred from the first write', T, async () => {
    const ns = await created();
    const schema = await ns.schema();
    const types = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, v.type]));
    assert.deepEqual(types, {
      id: 'uint',
      vector: '[3]f32',
      name: 'string',
      count: 'int',
      score: 'float',
      flag: 'bool',
      tags: '[]string',
      nums: '[]int',
    });
    assert.ok(schema.vector.ann, `vector attribute has an ANN index: ${JSON.stringify(schema.vector)}`);
    assert.equal(schema.name.filterable, true, JSON.stringify(schema.name));
  });

  test('a schema given with the first write overrides inference', T, async () => {
    const ns = await created(ROWS, { schema: { name: { type: 'string', filterable: false }, tags: { type: '[]string' } } });
    const schema = await ns.schema();
    assert.equal(schema.name.type, 'string');
    assert.equal(schema.name.filterable, false, JSON.stringify(schema.name));
    assert.equal(schema.count.type, 'int');
  });

  test('updateSchema changes an attribute and returns the whole schema', T, async () => {
    const ns = await created();
    const updated = await ns.updateSchema({ schema: { name: { type: 'string', filterable: false } } });
    assert.equal(updated.name?.type, 'string', JSON.stringify(updated));
    assert.equal(updated.name.filterable, false, JSON.stringify(updated.name));
    assert.equal(updated.count?.type, 'int', 'the other attributes are returned too');
    assert.equal(updated.vector?.type, '[3]f32');
    const schema = await ns.schema();
    assert.equal(schema.name.filterable, false, JSON.stringify(schema.name));
    assert.equal(schema.flag.type, 'bool');
    // The documents are untouched.
    assert.deepEqual(await ids(ns), [1, 2, 3, 4, 5]);
  });

  test('updateSchema can declare an attribute no document has yet', T, async () => {
    const ns = await created();
    const updated = await ns.updateSchema({ schema: { published: { type: 'datetime' } } });
    assert.equal(updated.published?.type, 'datetime', JSON.stringify(updated));
    await ns.write({ patch_rows: [{ id: 2, published: '2024-05-06T07:08:09Z' }] }, NO_RETRY);
    assert.deepEqual(await ids(ns, ['published', 'Gt', '2024-01-01T00:00:00Z']), [2]);
  });
});

describe('lifecycle', () => {
  test('exists() is false before the first write, true after it, false after deleteAll', T, async () => {
    const ns = tpuf.namespace(nsName('ns'));
    assert.equal(await ns.exists(), false);
    await ns.write({ upsert_rows: [{ id: 1, vector: [1, 2] }], distance_metric: 'euclidean_squared' }, NO_RETRY);
    assert.equal(await ns.exists(), true);
    const res = await ns.deleteAll();
    assert.deepEqual(res, { status: 'OK' });
    assert.equal(await ns.exists(), false);
  });

  test('after deleteAll queries, metadata and schema raise NotFoundError', T, async () => {
    const ns = await created();
    await ns.deleteAll();
    await expectApiError(ns.query({ rank_by: ['vector', 'ANN', [1, 1, 1]], top_k: 10 }), NotFoundError, 404);
    await expectApiError(ns.metadata(), NotFoundError, 404);
    await expectApiError(ns.schema(), NotFoundError, 404);
    await expectApiError(ns.deleteAll(), NotFoundError, 404);
  });

  test('a write after deleteAll starts a new, empty namespace', T, async () => {
    const ns = await created();
    await ns.deleteAll();
    await ns.write({ upsert_rows: [{ id: 9, vector: [1, 2], other: 'x' }], distance_metric: 'euclidean_squared' }, NO_RETRY);
    assert.deepEqual(await ids(ns), [9]);
    const schema = await ns.schema();
    assert.equal(schema.vector?.type, '[2]f32', 'the old dimensions are gone');
    assert.equal(schema.name, undefined, 'the old attributes are gone');
  });

  test('hintCacheWarm is accepted', T, async () => {
    const ns = await created();
    const res = await ns.hintCacheWarm();
    assert.equal(res.status, 'ACCEPTED', JSON.stringify(res));
  });
});

describe('listing', () => {
  test('namespaces() filters by prefix and pages by page_size until exhausted', T, async () => {
    const prefix = `${nsName('list')}-`;
    const names = ['c', 'a', 'g', 'b', 'f', 'e', 'd'].map((s) => `${prefix}${s}`);
    for (const name of names) {
      await tpuf.namespace(name).write({ upsert_rows: [{ id: 1, vector: [1, 0] }], distance_metric: 'euclidean_squared' }, NO_RETRY);
    }
    // A namespace whose name only shares part of the prefix is not listed.
    await tpuf.namespace(prefix.slice(0, -1)).write({ upsert_rows: [{ id: 1, vector: [1, 0] }], distance_metric: 'euclidean_squared' }, NO_RETRY);
    const sorted = [...names].sort();

    // Auto-pagination walks every page.
    const listed = [];
    for await (const summary of tpuf.namespaces({ prefix, page_size: 3 })) listed.push(summary.id);
    assert.deepEqual(listed, sorted);

    // Page by page: 3 + 3 + 1, a cursor on every page but the last.
    let page = await tpuf.namespaces({ prefix, page_size: 3 });
    const sizes = [];
    const pageIds = [];
    for (;;) {
      sizes.push(page.namespaces.length);
      pageIds.push(...page.namespaces.map((n) => n.id));
      if (!page.hasNextPage()) break;
      assert.ok(page.next_cursor, 'a page with more after it has a cursor');
      page = await page.getNextPage();
      assert.ok(sizes.length < 10, 'paging does not terminate');
    }
    assert.deepEqual(sizes, [3, 3, 1]);
    assert.deepEqual(pageIds, sorted);

    // Without page_size all fit on one page; a prefix nothing has lists nothing.
    const one = await tpuf.namespaces({ prefix });
    assert.deepEqual(one.namespaces.map((n) => n.id), sorted);
    assert.equal(one.hasNextPage(), false);
    const none = await tpuf.namespaces({ prefix: `${prefix}zzz` });
    assert.deepEqual(none.namespaces, []);
  });

  test('a deleted namespace is no longer listed', T, async () => {
    const prefix = `${nsName('list')}-`;
    for (const s of ['x', 'y']) {
      await tpuf.namespace(prefix + s).write({ upsert_rows: [{ id: 1, vector: [1, 0] }], distance_metric: 'euclidean_squared' }, NO_RETRY);
    }
    await tpuf.namespace(`${prefix}x`).deleteAll();
    const listed = [];
    for await (const summary of tpuf.namespaces({ prefix })) listed.push(summary.id);
    assert.deepEqual(listed, [`${prefix}y`]);
  });
});
