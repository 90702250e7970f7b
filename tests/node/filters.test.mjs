// Filters through the official client, on a small hand-written namespace whose expected
// matches are easy to check by eye. Attribute missing and attribute null are the same thing
// (turbopuffer: ["x", "Eq", null] matches documents without x).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_RETRY, client, ids, nsName } from './helpers.mjs';

const tpuf = client();
const T = { timeout: 60_000 };

const DOCS = [
  { id: 1, name: 'apple', color: 'red', price: 5, weight: 1.5, tags: ['fruit', 'red'], nums: [1, 5, 9], flag: true },
  { id: 2, name: 'Apricot', color: 'orange', price: 12, weight: 0.25, tags: ['fruit'], nums: [2], flag: false },
  { id: 3, name: 'banana', color: 'yellow', price: 3, weight: 2.5, tags: ['fruit', 'long'], nums: [10, 20], flag: true },
  { id: 4, name: 'blueberry', color: 'blue', price: 20, weight: 0.1, tags: ['berry', 'fruit'], nums: [30], flag: false },
  { id: 5, name: 'carrot', color: 'orange', price: 2, weight: 0.75, tags: ['vegetable'], nums: [3, 4] },
  { id: 6, name: 'Cherry', price: 15, weight: 0.05, tags: ['fruit', 'red', 'stone'], nums: [7], flag: true },
  { id: 7, name: 'date', color: null, price: 8, weight: 0.5, nums: [100], flag: false },
  { id: 8, color: 'green', price: 1, weight: 3.5, tags: ['vegetable', 'green'], flag: true },
].map((d) => ({ ...d, vector: [d.id, 1] }));

async function createNamespace(extra = {}) {
  const ns = tpuf.namespace(nsName('filters'));
  await ns.write({ upsert_rows: DOCS, distance_metric: 'euclidean_squared', ...extra }, NO_RETRY);
  return ns;
}

// [filter, expected ids ascending]
const CASES = {
  'Eq': [
    [['color', 'Eq', 'orange'], [2, 5]],
    [['price', 'Eq', 15], [6]],
    [['weight', 'Eq', 0.25], [2]],
    [['name', 'Eq', 'nope'], []],
    [['id', 'Eq', 3], [3]],
  ],
  'Eq/NotEq null: null and missing are the same': [
    [['color', 'Eq', null], [6, 7]],
    [['color', 'NotEq', null], [1, 2, 3, 4, 5, 8]],
    [['name', 'Eq', null], [8]],
    [['flag', 'Eq', null], [5]],
  ],
  'NotEq': [
    [['And', [['color', 'NotEq', 'orange'], ['color', 'NotEq', null]]], [1, 3, 4, 8]],
    [['price', 'NotEq', 5], [2, 3, 4, 5, 6, 7, 8]],
  ],
  'bool': [
    [['flag', 'Eq', true], [1, 3, 6, 8]],
    [['flag', 'Eq', false], [2, 4, 7]],
  ],
  'In/NotIn': [
    [['price', 'In', [1, 5, 20, 99]], [1, 4, 8]],
    [['color', 'In', ['red', 'blue', 'purple']], [1, 4]],
    [['price', 'NotIn', [1, 5, 20]], [2, 3, 5, 6, 7]],
    [['id', 'In', [2, 4, 100]], [2, 4]],
  ],
  'Lt/Lte/Gt/Gte on ints and floats': [
    [['price', 'Lt', 5], [3, 5, 8]],
    [['price', 'Lte', 5], [1, 3, 5, 8]],
    [['price', 'Gt', 12], [4, 6]],
    [['price', 'Gte', 12], [2, 4, 6]],
    [['weight', 'Lte', 0.25], [2, 4, 6]],
    [['weight', 'Gt', 1.0], [1, 3, 8]],
    // Strings compare in byte order: 'Apricot' < 'Cherry' < 'apple' < 'b'.
    [['And', [['name', 'Lt', 'b'], ['name', 'NotEq', null]]], [1, 2, 6]],
  ],
  'Contains/ContainsAny on arrays': [
    [['tags', 'Contains', 'red'], [1, 6]],
    [['nums', 'Contains', 20], [3]],
    [['tags', 'ContainsAny', ['berry', 'vegetable']], [4, 5, 8]],
    [['nums', 'ContainsAny', [9, 100]], [1, 7]],
  ],
  // Documents with the array (turbopuffer does not say whether a missing array, which some
  // servers order below every value, can match AnyLt, so document 8 is left out here).
  'AnyLt/AnyGte on arrays': [
    [['And', [['nums', 'NotEq', null], ['nums', 'AnyLt', 3]]], [1, 2]],
    [['And', [['nums', 'NotEq', null], ['nums', 'AnyLte', 2]]], [1, 2]],
    [['nums', 'AnyGt', 9], [3, 4, 7]],
    [['nums', 'AnyGte', 30], [4, 7]],
  ],
  'Glob/IGlob': [
    [['name', 'Glob', 'b*'], [3, 4]],
    [['name', 'Glob', '*rr*'], [4, 5, 6]],
    [['name', 'Glob', 'a*'], [1]],
    [['name', 'IGlob', 'a*'], [1, 2]],
    [['name', 'IGlob', '*BERRY'], [4]],
    [['name', 'Glob', 'd?te'], [7]],
    [['name', 'Glob', '[bc]*'], [3, 4, 5]],
  ],
  'And/Or/Not': [
    [['Or', [['color', 'Eq', 'red'], ['price', 'Gte', 15]]], [1, 4, 6]],
    [['And', [['tags', 'Contains', 'fruit'], ['flag', 'Eq', true]]], [1, 3, 6]],
    [['Not', ['tags', 'Contains', 'fruit']], [5, 7, 8]],
    [['Not', ['Not', ['color', 'Eq', 'orange']]], [2, 5]],
    [
      ['And', [
        ['Or', [['price', 'Lt', 4], ['price', 'Gt', 14]]],
        ['Not', ['color', 'Eq', null]],
        ['tags', 'ContainsAny', ['fruit', 'vegetable']],
      ]],
      [3, 4, 5, 8],
    ],
  ],
};

describe('filters', () => {
  let ns;
  before(async () => {
    ns = await createNamespace();
  });

  for (const [group, cases] of Object.entries(CASES)) {
    test(group, T, async () => {
      for (const [filter, expected] of cases) {
        assert.deepEqual(await ids(ns, filter), expected, `filter ${JSON.stringify(filter)}`);
      }
    });
  }

  test('filters restrict vector search to the matching documents', T, async () => {
    const res = await ns.query({ rank_by: ['vector', 'ANN', [8, 1]], filters: ['tags', 'Contains', 'fruit'], top_k: 3 });
    assert.deepEqual(res.rows.map((r) => [r.id, r.$dist]), [[6, 4], [4, 16], [3, 25]]);
  });

  test('filters on rank_by attribute queries and on aggregations', T, async () => {
    const res = await ns.query({ rank_by: ['price', 'desc'], filters: ['tags', 'Contains', 'fruit'], top_k: 2 });
    assert.deepEqual(res.rows.map((r) => r.id), [4, 6]);
    const agg = await ns.query({ aggregate_by: { n: ['Count'] }, filters: ['color', 'Eq', null] });
    assert.deepEqual(agg.aggregations, { n: 2 });
  });
});

describe('Regex', () => {
  test('Regex matches on an attribute with regex enabled in the schema', T, async () => {
    const ns = await createNamespace({ schema: { name: { type: 'string', regex: true } } });
    assert.deepEqual(await ids(ns, ['name', 'Regex', '^[A-Z]']), [2, 6]);
    assert.deepEqual(await ids(ns, ['name', 'Regex', '.*(an){2}.*']), [3]);
    assert.deepEqual(await ids(ns, ['name', 'Regex', '^(apple|date)$']), [1, 7]);
  });
});
