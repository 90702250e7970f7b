// Queries through the official client: vector search (kNN exact, ANN approximate) checked
// against the exact answer computed here, ordering by attributes, paging, top_k/limit, the
// attributes returned, vector encodings, consistency, aggregations, multi-queries with RRF,
// the performance and billing blocks, explain_query and recall.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NO_RETRY,
  assertClose,
  assertVectorEqual,
  base64ToVector,
  client,
  distance,
  exactTopK,
  nsName,
  rng,
  randomVector,
  sortIds,
} from './helpers.mjs';

const tpuf = client();
const T = { timeout: 60_000 };
const N = 200;
const DIMS = 8;
const CATEGORIES = ['a', 'b', 'c'];

// The data set: N documents, ids 1..N, seeded vectors; every document has category, a unique
// price and a unique rating.
function dataset() {
  const next = rng(42);
  const prices = Array.from({ length: N }, (_, i) => i * 7 + 3);
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [prices[i], prices[j]] = [prices[j], prices[i]];
  }
  const docs = [];
  for (let i = 0; i < N; i++) {
    docs.push({
      id: i + 1,
      vector: randomVector(next, DIMS),
      category: CATEGORIES[i % 3],
      price: prices[i],
      rating: Math.round((i * 0.37 + 0.125) * 1000) / 1000,
    });
  }
  return docs;
}

const DOCS = dataset();
const QUERIES = (() => {
  const next = rng(7);
  return Array.from({ length: 5 }, () => randomVector(next, DIMS));
})();
const byId = new Map(DOCS.map((d) => [d.id, d]));

async function createNamespace(metric) {
  const ns = tpuf.namespace(nsName('queries'));
  const res = await ns.write({ upsert_rows: DOCS, distance_metric: metric }, NO_RETRY);
  assert.equal(res.rows_upserted, N);
  return ns;
}

for (const metric of ['cosine_distance', 'euclidean_squared']) {
  describe(`vector search, ${metric}`, () => {
    let ns;
    before(async () => {
      ns = await createNamespace(metric);
    });

    test('kNN returns the exact top k with $dist as turbopuffer defines it', T, async () => {
      for (const q of QUERIES) {
        const res = await ns.query({
          rank_by: ['vector', 'kNN', q],
          filters: ['category', 'In', CATEGORIES], // every document
          top_k: 10,
        });
        const expected = exactTopK(DOCS, q, 10, metric);
        assert.deepEqual(res.rows.map((r) => r.id), expected.map((e) => e.id));
        res.rows.forEach((r, i) => assertClose(r.$dist, expected[i].dist, `$dist of ${r.id}`));
      }
    });

    test('kNN with a filter ranks exactly within the filtered documents', T, async () => {
      const q = QUERIES[0];
      const res = await ns.query({ rank_by: ['vector', 'kNN', q], filters: ['category', 'Eq', 'b'], top_k: 7 });
      const expected = exactTopK(DOCS.filter((d) => d.category === 'b'), q, 7, metric);
      assert.deepEqual(res.rows.map((r) => r.id), expected.map((e) => e.id));
      res.rows.forEach((r, i) => assertClose(r.$dist, expected[i].dist, `$dist of ${r.id}`));
    });

    test('ANN: ordered by $dist, each $dist exact for its document, recall@10 >= 0.9', T, async () => {
      let found = 0;
      for (const q of QUERIES) {
        const res = await ns.query({ rank_by: ['vector', 'ANN', q], top_k: 10 });
        assert.equal(res.rows.length, 10);
        const expected = exactTopK(DOCS, q, 10, metric);
        let prev = -Infinity;
        for (const r of res.rows) {
          assert.ok(byId.has(r.id), `unknown id ${r.id}`);
          assertClose(r.$dist, distance(metric, q, byId.get(r.id).vector), `$dist of ${r.id}`);
          assert.ok(r.$dist >= prev - 1e-6, 'rows are ordered by $dist');
          prev = r.$dist;
        }
        const want = new Set(expected.map((e) => e.id));
        found += res.rows.filter((r) => want.has(r.id)).length;
      }
      assert.ok(found / (10 * QUERIES.length) >= 0.9, `recall@10 ${found / (10 * QUERIES.length)}`);
    });
  });
}

describe('results', () => {
  let ns;
  before(async () => {
    ns = await createNamespace('euclidean_squared');
  });

  test('top_k and limit bound the number of rows', T, async () => {
    const q = QUERIES[1];
    const a = await ns.query({ rank_by: ['vector', 'ANN', q], top_k: 5 });
    assert.equal(a.rows.length, 5);
    const b = await ns.query({ rank_by: ['price', 'asc'], limit: { total: 7 } });
    assert.equal(b.rows.length, 7);
    const c = await ns.query({ rank_by: ['price', 'asc'], limit: 3 });
    assert.deepEqual(c.rows.map((r) => r.id), [...DOCS].sort((x, y) => x.price - y.price).slice(0, 3).map((d) => d.id));
    const all = await ns.query({ rank_by: ['price', 'asc'], top_k: 1000 });
    assert.equal(all.rows.length, N);
  });

  test('by default a row carries only id and $dist', T, async () => {
    const res = await ns.query({ rank_by: ['vector', 'ANN', QUERIES[2]], top_k: 3 });
    for (const r of res.rows) assert.deepEqual(Object.keys(r).sort(), ['$dist', 'id']);
  });

  test('include_attributes true returns the vector and every attribute', T, async () => {
    const res = await ns.query({ rank_by: ['vector', 'kNN', QUERIES[2]], filters: ['id', 'Lte', N], top_k: 3, include_attributes: true });
    for (const r of res.rows) {
      const d = byId.get(r.id);
      assert.deepEqual(Object.keys(r).sort(), ['$dist', 'category', 'id', 'price', 'rating', 'vector']);
      assertVectorEqual(r.vector, d.vector);
      assert.deepEqual([r.category, r.price, r.rating], [d.category, d.price, d.rating]);
    }
  });

  test('include_attributes as a list returns just those; exclude_attributes drops those', T, async () => {
    const inc = await ns.query({ rank_by: ['id', 'asc'], top_k: 4, include_attributes: ['price', 'category'] });
    assert.deepEqual(inc.rows, DOCS.slice(0, 4).map((d) => ({ id: d.id, price: d.price, category: d.category })));
    const exc = await ns.query({ rank_by: ['id', 'asc'], top_k: 4, exclude_attributes: ['vector', 'rating'] });
    assert.deepEqual(exc.rows, DOCS.slice(0, 4).map((d) => ({ id: d.id, price: d.price, category: d.category })));
  });

  test('vector_encoding base64 returns little-endian f32 vectors', T, async () => {
    const res = await ns.query({ rank_by: ['id', 'asc'], top_k: 5, include_attributes: ['vector'], vector_encoding: 'base64' });
    assert.equal(res.rows.length, 5);
    for (const r of res.rows) {
      assert.equal(typeof r.vector, 'string', JSON.stringify(r));
      assert.deepEqual(base64ToVector(r.vector), byId.get(r.id).vector);
    }
  });

  test('rank_by an attribute, asc and desc, carries no $dist', T, async () => {
    const asc = await ns.query({ rank_by: ['price', 'asc'], top_k: N, include_attributes: ['price'] });
    assert.deepEqual(asc.rows.map((r) => r.id), [...DOCS].sort((x, y) => x.price - y.price).map((d) => d.id));
    for (const r of asc.rows) assert.equal(r.$dist, undefined);
    const desc = await ns.query({ rank_by: ['rating', 'desc'], top_k: 10, filters: ['category', 'Eq', 'c'] });
    assert.deepEqual(
      desc.rows.map((r) => r.id),
      DOCS.filter((d) => d.category === 'c').sort((x, y) => y.rating - x.rating).slice(0, 10).map((d) => d.id),
    );
  });

  test('rank_by several attributes orders by the first, then the next', T, async () => {
    const res = await ns.query({ rank_by: [['category', 'desc'], ['price', 'asc']], top_k: N });
    const expected = [...DOCS].sort((x, y) => (x.category === y.category ? x.price - y.price : x.category < y.category ? 1 : -1));
    assert.deepEqual(res.rows.map((r) => r.id), expected.map((d) => d.id));
  });

  test('paging with rank_by id asc and id Gt <last> visits every match once', T, async () => {
    const want = DOCS.filter((d) => d.category !== 'a').map((d) => d.id);
    const seen = [];
    let last = null;
    let pages = 0;
    for (;;) {
      const filters = last === null
        ? ['category', 'NotEq', 'a']
        : ['And', [['category', 'NotEq', 'a'], ['id', 'Gt', last]]];
      const res = await ns.query({ rank_by: ['id', 'asc'], top_k: 37, filters });
      pages += 1;
      assert.ok(pages <= 10, 'paging does not terminate');
      if (res.rows.length === 0) break;
      assert.ok(res.rows.length <= 37);
      seen.push(...res.rows.map((r) => r.id));
      last = res.rows[res.rows.length - 1].id;
    }
    assert.deepEqual(seen, want);
    assert.equal(pages, Math.ceil(want.length / 37) + 1, 'the last page is the first empty one');
  });

  test('performance and billing describe the query', T, async () => {
    const res = await ns.query({ rank_by: ['vector', 'ANN', QUERIES[3]], top_k: 10 });
    const p = res.performance;
    assert.ok(p, 'performance is missing');
    for (const key of ['server_total_ms', 'query_execution_ms', 'exhaustive_search_count', 'cache_hit_ratio', 'approx_namespace_size']) {
      assert.equal(typeof p[key], 'number', `performance.${key}: ${JSON.stringify(p)}`);
      assert.ok(p[key] >= 0, `performance.${key} = ${p[key]}`);
    }
    assert.ok(p.query_execution_ms <= p.server_total_ms + 1e-9, JSON.stringify(p));
    assert.ok(p.cache_hit_ratio <= 1, JSON.stringify(p));
    assert.ok(['hot', 'warm', 'cold'].includes(p.cache_temperature), JSON.stringify(p));
    assert.ok(p.exhaustive_search_count <= N, JSON.stringify(p));
    assert.equal(p.approx_namespace_size, N);
    assert.ok(p.client_total_ms > 0, 'the client adds its own timings');
    const b = res.billing;
    assert.equal(typeof b?.billable_logical_bytes_queried, 'number', JSON.stringify(res.billing));
    assert.equal(typeof b.billable_logical_bytes_returned, 'number', JSON.stringify(res.billing));
    assert.ok(b.billable_logical_bytes_returned > 0);
  });

  test('explainQuery returns a plan', T, async () => {
    const res = await ns.explainQuery({ rank_by: ['vector', 'ANN', QUERIES[0]], top_k: 10, filters: ['category', 'Eq', 'a'] });
    assert.equal(typeof res.plan_text, 'string', JSON.stringify(res));
    assert.ok(res.plan_text.length > 0);
  });

  test('recall reports the ANN recall against exhaustive search', T, async () => {
    const res = await ns.recall({ num: 5, top_k: 10 });
    assert.equal(typeof res.avg_recall, 'number', JSON.stringify(res));
    assert.ok(res.avg_recall >= 0.9 && res.avg_recall <= 1, JSON.stringify(res));
    assert.equal(res.avg_exhaustive_count, 10, JSON.stringify(res));
    assert.ok(res.avg_ann_count > 0 && res.avg_ann_count <= 10, JSON.stringify(res));
  });
});

describe('consistency', () => {
  test('strong (the default) reads its own writes; eventual is accepted', T, async () => {
    const ns = tpuf.namespace(nsName('queries'));
    await ns.write({ upsert_rows: [{ id: 1, vector: [1, 0], v: 1 }], distance_metric: 'euclidean_squared' }, NO_RETRY);
    for (let i = 2; i <= 6; i++) {
      await ns.write({ upsert_rows: [{ id: i, vector: [i, 0], v: i }], patch_rows: [{ id: 1, v: i }] }, NO_RETRY);
      const strong = await ns.query({ rank_by: ['id', 'asc'], top_k: 100, include_attributes: ['v'], consistency: { level: 'strong' } });
      assert.deepEqual(strong.rows.map((r) => r.id), Array.from({ length: i }, (_, k) => k + 1));
      assert.equal(strong.rows[0].v, i);
      const dflt = await ns.query({ rank_by: ['vector', 'kNN', [i, 0]], filters: ['v', 'Gte', 0], top_k: 1 });
      assert.deepEqual(dflt.rows.map((r) => r.id), [i]);
    }
    const eventual = await ns.query({ rank_by: ['id', 'asc'], top_k: 100, consistency: { level: 'eventual' } });
    const got = eventual.rows.map((r) => r.id);
    assert.ok(got.every((id) => id >= 1 && id <= 6), JSON.stringify(got));
    assert.deepEqual(got, sortIds(got));
  });
});

describe('aggregations', () => {
  let ns;
  before(async () => {
    ns = await createNamespace('cosine_distance');
  });

  test('Count and Sum over the documents matching the filters', T, async () => {
    const res = await ns.query({
      aggregate_by: { n: ['Count'], total: ['Sum', 'price'] },
      filters: ['price', 'Lt', 500],
    });
    const match = DOCS.filter((d) => d.price < 500);
    assert.deepEqual(res.aggregations, { n: match.length, total: match.reduce((s, d) => s + d.price, 0) });
    assert.ok(!res.rows || res.rows.length === 0, 'an aggregation returns no rows');
  });

  test('Count and Sum with group_by give one group per value', T, async () => {
    const res = await ns.query({ aggregate_by: { n: ['Count'], total: ['Sum', 'price'] }, group_by: ['category'] });
    const expected = CATEGORIES.map((c) => {
      const g = DOCS.filter((d) => d.category === c);
      return { category: c, n: g.length, total: g.reduce((s, d) => s + d.price, 0) };
    });
    const groups = [...(res.aggregation_groups ?? [])].sort((x, y) => (x.category < y.category ? -1 : 1));
    assert.deepEqual(groups, expected);
  });
});

describe('multi-queries', () => {
  let ns;
  before(async () => {
    ns = await createNamespace('euclidean_squared');
  });

  test('multiQuery answers each sub-query as query would', T, async () => {
    const q = QUERIES[4];
    const sub = [
      { rank_by: ['vector', 'kNN', q], filters: ['category', 'Eq', 'a'], top_k: 5 },
      { rank_by: ['price', 'desc'], filters: ['category', 'Eq', 'b'], top_k: 3, include_attributes: ['price'] },
      { aggregate_by: { n: ['Count'] }, filters: ['category', 'Eq', 'c'] },
    ];
    const res = await ns.multiQuery({ queries: sub });
    assert.equal(res.results.length, 3);
    const knn = exactTopK(DOCS.filter((d) => d.category === 'a'), q, 5, 'euclidean_squared');
    assert.deepEqual(res.results[0].rows.map((r) => r.id), knn.map((e) => e.id));
    res.results[0].rows.forEach((r, i) => assertClose(r.$dist, knn[i].dist, `$dist of ${r.id}`));
    assert.deepEqual(
      res.results[1].rows,
      DOCS.filter((d) => d.category === 'b').sort((x, y) => y.price - x.price).slice(0, 3).map((d) => ({ id: d.id, price: d.price })),
    );
    assert.deepEqual(res.results[2].aggregations, { n: DOCS.filter((d) => d.category === 'c').length });
    assert.equal(typeof res.performance?.server_total_ms, 'number', JSON.stringify(res.performance));
    assert.equal(typeof res.billing?.billable_logical_bytes_queried, 'number', JSON.stringify(res.billing));
  });

  // Reciprocal rank fusion: score(d) = sum over sub-queries i of w_i / (k + rank_i(d)), rank
  // counted from 1, k = rank_constant (60 by default); fused rows by score, highest first.
  function rrf(lists, k = 60, weights = lists.map(() => 1)) {
    const score = new Map();
    lists.forEach((ids, i) => ids.forEach((id, r) => score.set(id, (score.get(id) ?? 0) + weights[i] / (k + r + 1))));
    return [...score.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]);
  }

  async function checkRrf(rerank_by, k, weights) {
    const q = QUERIES[0];
    const queries = [
      { rank_by: ['vector', 'kNN', q], filters: ['price', 'Lt', 700], top_k: 8 },
      { rank_by: ['rating', 'desc'], filters: ['price', 'Lt', 700], top_k: 8 },
      { rank_by: ['price', 'asc'], top_k: 8 },
    ];
    const singles = [];
    for (const sub of queries) singles.push((await ns.query(sub)).rows.map((r) => r.id));
    const expected = rrf(singles, k, weights);
    const res = await ns.multiQuery({ queries, rerank_by });
    assert.equal(res.results.length, 1, 'rerank_by fuses the sub-queries into one result');
    const got = res.results[0].rows.map((r) => r.id);
    assert.ok(got.length >= Math.min(8, expected.length) && got.length <= expected.length, `${got.length} rows`);
    // Equal scores may come in either order; everything else must be in fused order.
    const scoreOf = new Map(expected);
    got.forEach((id, i) => {
      assert.ok(scoreOf.has(id), `fused row ${id} is in none of the sub-query results`);
      assertClose(scoreOf.get(id), expected[i][1], `RRF score at position ${i} (id ${id})`, 1e-12);
    });
    assert.equal(new Set(got).size, got.length, 'a document appears once');
  }

  test('rerank_by RRF fuses the sub-query rankings', T, async () => {
    await checkRrf(['RRF'], 60);
  });

  test('rerank_by RRF honours rank_constant and weights', T, async () => {
    await checkRrf(['RRF', { rank_constant: 5, weights: [1, 0.5, 2] }], 5, [1, 0.5, 2]);
  });
});
