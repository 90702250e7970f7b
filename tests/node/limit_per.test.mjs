// limit: {total, per: {attributes, limit}} (diversification) through the official client:
// the query's ranking with at most `per.limit` rows per combination of the attributes'
// values (a missing attribute counts as null), `total` rows in all. Expected rows are
// computed here by brute force from the data the test wrote.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from '@turbopuffer/turbopuffer';
import {
  NO_RETRY,
  assertClose,
  client,
  distance,
  expectApiError,
  nsName,
  randomVector,
  rng,
} from './helpers.mjs';

const tpuf = client();
const T = { timeout: 60_000 };
const N = 300;
const DIMS = 8;
const METRIC = 'euclidean_squared';

// 300 documents: brand "acme" for most of them (so the first rows of any ranking are mostly
// acme), five other brands, and no brand at all for every 29th; colour one of three; unique
// prices.
function dataset() {
  const next = rng(2024);
  const docs = [];
  for (let i = 0; i < N; i++) {
    const doc = {
      id: i + 1,
      vector: randomVector(next, DIMS),
      color: ['red', 'green', 'blue'][i % 3],
      price: ((i * 37) % N) + 1,
    };
    if ((i + 1) % 29 !== 0) doc.brand = i % 10 < 8 ? 'acme' : ['b1', 'b2', 'b3', 'b4', 'b5'][Math.floor(i / 10) % 5];
    docs.push(doc);
  }
  return docs;
}

const DOCS = dataset();
const byId = new Map(DOCS.map((d) => [d.id, d]));
const QUERY = (() => randomVector(rng(99), DIMS))();

const keyOf = (doc, attributes) => JSON.stringify(attributes.map((a) => (a === 'id' ? doc.id : doc[a] ?? null)));

// Keeps, in rank order, each document whose key has fewer than `per` kept before it.
function keepPerKey(ranked, attributes, per, total) {
  const count = new Map();
  const out = [];
  for (const doc of ranked) {
    if (out.length === total) break;
    const key = keyOf(doc, attributes);
    const c = count.get(key) ?? 0;
    if (c < per) {
      out.push(doc);
      count.set(key, c + 1);
    }
  }
  return out;
}

const byDistance = (docs, q) =>
  docs
    .map((d) => ({ ...d, dist: distance(METRIC, q, d.vector) }))
    .sort((x, y) => x.dist - y.dist || x.id - y.id);

describe('limit.per', () => {
  let ns;
  before(async () => {
    ns = tpuf.namespace(nsName('limitper'));
    const res = await ns.write({ upsert_rows: DOCS, distance_metric: METRIC }, NO_RETRY);
    assert.equal(res.rows_upserted, N);
  });

  test('kNN keeps at most per.limit rows per brand, total rows in all', T, async () => {
    for (const [total, per] of [[10, 2], [8, 1], [30, 5]]) {
      const res = await ns.query({
        rank_by: ['vector', 'kNN', QUERY],
        limit: { total, per: { attributes: ['brand'], limit: per } },
        include_attributes: ['brand'],
      });
      const expected = keepPerKey(byDistance(DOCS, QUERY), ['brand'], per, total);
      assert.deepEqual(res.rows.map((r) => r.id), expected.map((d) => d.id), `total ${total} per ${per}`);
      res.rows.forEach((r, i) => {
        assertClose(r.$dist, expected[i].dist, `$dist of ${r.id}`);
        assert.equal(r.brand ?? null, byId.get(r.id).brand ?? null);
        assert.equal(r.color, undefined, 'only the attributes asked for');
      });
    }
    // Seven keys (acme, b1..b5, no brand), two each: 14 rows exist, not 20.
    const res = await ns.query({
      rank_by: ['vector', 'kNN', QUERY],
      limit: { total: 20, per: { attributes: ['brand'], limit: 2 } },
    });
    assert.equal(res.rows.length, 14);
    assert.deepEqual(
      res.rows.map((r) => r.id),
      keepPerKey(byDistance(DOCS, QUERY), ['brand'], 2, 20).map((d) => d.id),
    );
  });

  test('several attributes, filters and order by attribute', T, async () => {
    const res = await ns.query({
      rank_by: ['price', 'desc'],
      filters: ['color', 'NotEq', 'green'],
      limit: { total: 12, per: { attributes: ['brand', 'color'], limit: 1 } },
      include_attributes: ['brand', 'color', 'price'],
    });
    const ranked = DOCS.filter((d) => d.color !== 'green').sort((x, y) => y.price - x.price);
    const expected = keepPerKey(ranked, ['brand', 'color'], 1, 12);
    assert.deepEqual(
      res.rows,
      expected.map((d) => ({ id: d.id, color: d.color, price: d.price, ...(d.brand ? { brand: d.brand } : {}) })),
    );
  });

  test('ANN returns total rows whenever they exist, each key within its limit', T, async () => {
    const res = await ns.query({
      rank_by: ['vector', 'ANN', QUERY],
      limit: { total: 12, per: { attributes: ['brand'], limit: 2 } },
      include_attributes: ['brand'],
    });
    assert.equal(res.rows.length, 12);
    const count = new Map();
    let last = -Infinity;
    for (const r of res.rows) {
      const doc = byId.get(r.id);
      const key = keyOf(doc, ['brand']);
      count.set(key, (count.get(key) ?? 0) + 1);
      assert.ok(count.get(key) <= 2, `more than 2 rows of ${key}`);
      assertClose(r.$dist, distance(METRIC, QUERY, doc.vector), `$dist of ${r.id}`);
      assert.ok(r.$dist >= last, 'rows in rank order');
      last = r.$dist;
    }
    assert.equal(count.size, 6);
  });

  test('each sub-query of a multi-query has its own limit', T, async () => {
    const res = await ns.multiQuery({
      queries: [
        { rank_by: ['vector', 'kNN', QUERY], limit: { total: 5, per: { attributes: ['color'], limit: 1 } } },
        { rank_by: ['price', 'asc'], limit: { total: 6, per: { attributes: ['brand'], limit: 3 } } },
        { rank_by: ['price', 'asc'], limit: 4 },
      ],
    });
    assert.equal(res.results.length, 3);
    const knn = keepPerKey(byDistance(DOCS, QUERY), ['color'], 1, 5);
    assert.equal(knn.length, 3, 'three colours');
    assert.deepEqual(res.results[0].rows.map((r) => r.id), knn.map((d) => d.id));
    const byPrice = [...DOCS].sort((x, y) => x.price - y.price);
    assert.deepEqual(
      res.results[1].rows.map((r) => r.id),
      keepPerKey(byPrice, ['brand'], 3, 6).map((d) => d.id),
    );
    assert.deepEqual(res.results[2].rows.map((r) => r.id), byPrice.slice(0, 4).map((d) => d.id));
  });

  test('invalid limits are a BadRequestError naming the field', T, async () => {
    const cases = [
      [{ attributes: [], limit: 2 }, 'limit.per.attributes'],
      [{ attributes: ['brand', 'brand'], limit: 2 }, 'limit.per.attributes[1]'],
      [{ attributes: ['vector'], limit: 2 }, 'limit.per.attributes[0]'],
      [{ attributes: ['brand'], limit: 0 }, 'limit.per.limit'],
      [{ attributes: ['brand'], limit: 1.5 }, 'limit.per.limit'],
      [{ attributes: ['brand'] }, 'limit.per.limit'],
    ];
    for (const [per, path] of cases) {
      const err = await expectApiError(ns.query({ rank_by: ['id', 'asc'], limit: { total: 5, per } }), BadRequestError, 400);
      assert.ok(err.error.error.startsWith(`${path}:`), `${JSON.stringify(per)}: ${err.error.error}`);
    }
    const err = await expectApiError(
      ns.query({
        aggregate_by: { n: ['Count'] },
        group_by: ['brand'],
        limit: { total: 5, per: { attributes: ['brand'], limit: 1 } },
      }),
      BadRequestError,
      400,
    );
    assert.match(err.error.error, /^limit\.per: cannot be combined with aggregate_by/);
  });
});
