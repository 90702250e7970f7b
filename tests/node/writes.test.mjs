// Writes through the official client: upserts (rows and columns), patches, deletes, the
// response counts, affected ids, vector encodings, id types, attribute types, atomicity,
// writes by filter and conditional writes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from '@turbopuffer/turbopuffer';
import {
  NO_RETRY,
  allRows,
  assertVectorEqual,
  base64ToVector,
  client,
  expectApiError,
  ids,
  nsName,
  sortIds,
  vectorToBase64,
  withoutVector,
} from './helpers.mjs';

const tpuf = client();
const T = { timeout: 60_000 };

// Five documents with one attribute of every JSON-inferred type.
const TYPED_ROWS = [
  { id: 1, vector: [0.1, 0.2, 0.3], name: 'one', count: 1, score: 0.5, flag: true, tags: ['a', 'b'], nums: [1, 2], ratios: [0.25, 1.5], bits: [true, false] },
  { id: 2, vector: [0.4, 0.5, 0.6], name: 'two', count: -2, score: 1.25, flag: false, tags: ['b'], nums: [3], ratios: [2.5], bits: [false] },
  { id: 3, vector: [0.7, 0.8, 0.9], name: 'three', count: 3, score: -7.75, flag: true, tags: ['c'], nums: [7, 8, 9], ratios: [0.75, -0.5], bits: [false, false] },
  { id: 4, vector: [-0.1, 0.0, 0.1], name: 'fünf ✓', count: 40000000000, score: 3.5e-3, flag: false, tags: ['c', 'd', 'e'], nums: [-1, 0, 1], ratios: [0.125], bits: [true] },
  { id: 5, vector: [1, 2, 3], name: '', count: 0, score: 1e10 + 0.5, flag: true, tags: ['x'], nums: [5], ratios: [5.5], bits: [true, true] },
];

function assertRowsEqual(rows, expected) {
  assert.deepEqual(rows.map((r) => r.id), expected.map((r) => r.id), 'ids');
  rows.forEach((row, i) => {
    assertVectorEqual(row.vector, expected[i].vector, `row ${row.id} vector`);
    assert.deepEqual(withoutVector(row), withoutVector(expected[i]), `row ${row.id} attributes`);
  });
}

describe('upserts', () => {
  test('upsert_rows stores every attribute type and reports the counts', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    const res = await ns.write({ upsert_rows: TYPED_ROWS, distance_metric: 'cosine_distance' }, NO_RETRY);
    assert.equal(res.status, 'OK');
    assert.equal(typeof res.message, 'string');
    assert.equal(res.rows_affected, 5);
    assert.equal(res.rows_upserted, 5);
    assert.equal(res.rows_patched ?? 0, 0);
    assert.equal(res.rows_deleted ?? 0, 0);
    assert.equal(res.upserted_ids, undefined, 'affected ids only when return_affected_ids is set');
    assert.equal(typeof res.billing?.billable_logical_bytes_written, 'number', JSON.stringify(res));
    assert.ok(res.billing.billable_logical_bytes_written > 0);

    assertRowsEqual(await allRows(ns), TYPED_ROWS);
  });

  test('an upsert replaces the whole document', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    await ns.write({ upsert_rows: [{ id: 1, vector: [1, 0], a: 1, b: 'x' }], distance_metric: 'euclidean_squared' }, NO_RETRY);
    const res = await ns.write({ upsert_rows: [{ id: 1, vector: [0, 1], c: true }] }, NO_RETRY);
    assert.equal(res.rows_upserted, 1);
    assertRowsEqual(await allRows(ns), [{ id: 1, vector: [0, 1], c: true }]);
  });

  test('upsert_columns stores columns; null means the document has no such attribute', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    const res = await ns.write(
      {
        upsert_columns: {
          id: [10, 11, 12],
          vector: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
          name: ['ten', null, 'twelve'],
          n: [1, 2, null],
          tags: [['p'], null, ['q', 'r']],
        },
        distance_metric: 'euclidean_squared',
      },
      NO_RETRY,
    );
    assert.equal(res.rows_affected, 3);
    assert.equal(res.rows_upserted, 3);
    assertRowsEqual(await allRows(ns), [
      { id: 10, vector: [1, 0, 0], name: 'ten', n: 1, tags: ['p'] },
      { id: 11, vector: [0, 1, 0], n: 2 },
      { id: 12, vector: [0, 0, 1], name: 'twelve', tags: ['q', 'r'] },
    ]);
    assert.deepEqual(await ids(ns, ['name', 'Eq', null]), [11]);
  });

  test('the client default (write() retries) works end to end', T, async () => {
    // write() passes maxRetries: 6 itself; nothing here fails, so no retry happens.
    const ns = client({ maxRetries: 4 }).namespace(nsName('writes'));
    const res = await ns.write({ upsert_rows: [{ id: 1, vector: [0.5, 0.5] }], distance_metric: 'cosine_distance' });
    assert.equal(res.rows_upserted, 1);
    assert.deepEqual(await ids(ns), [1]);
  });
});

describe('patches', () => {
  async function seeded() {
    const ns = tpuf.namespace(nsName('writes'));
    await ns.write(
      {
        upsert_rows: [
          { id: 1, vector: [1, 1], a: 1, b: 'one' },
          { id: 2, vector: [2, 2], a: 2, b: 'two' },
        ],
        distance_metric: 'cosine_distance',
      },
      NO_RETRY,
    );
    return ns;
  }

  test('patch_rows merges attributes, keeps the vector, null removes an attribute', T, async () => {
    const ns = await seeded();
    const res = await ns.write(
      { patch_rows: [{ id: 1, a: 10, c: 'new' }, { id: 2, b: null }] },
      NO_RETRY,
    );
    assert.equal(res.rows_affected, 2);
    assert.equal(res.rows_patched, 2);
    assert.equal(res.rows_upserted ?? 0, 0);
    assertRowsEqual(await allRows(ns), [
      { id: 1, vector: [1, 1], a: 10, b: 'one', c: 'new' },
      { id: 2, vector: [2, 2], a: 2 },
    ]);
  });

  test('patch_rows to an id that does not exist creates nothing', T, async () => {
    const ns = await seeded();
    await ns.write({ patch_rows: [{ id: 99, a: 99 }, { id: 1, a: 11 }] }, NO_RETRY);
    const rows = await allRows(ns);
    assert.deepEqual(rows.map((r) => r.id), [1, 2]);
    assert.equal(rows[0].a, 11);
    assert.deepEqual(await ids(ns, ['a', 'Eq', 99]), []);
  });

  test('patch_columns patches several documents column-wise', T, async () => {
    const ns = await seeded();
    await ns.write({ patch_rows: [{ id: 1, b: 'uno' }, { id: 2, c: 2 }] }, NO_RETRY);
    const res = await ns.write({ patch_columns: { id: [1, 2], a: [11, 22], c: [1, null] } }, NO_RETRY);
    assert.equal(res.rows_patched, 2);
    const rows = await ns.query({ rank_by: ['id', 'asc'], top_k: 10, include_attributes: ['a', 'b', 'c'] });
    assert.deepEqual(rows.rows, [
      { id: 1, a: 11, b: 'uno', c: 1 },
      { id: 2, a: 22, b: 'two' },
    ]);
  });
});

describe('deletes', () => {
  test('deletes removes documents by id and counts them', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    await ns.write(
      { upsert_rows: [1, 2, 3, 4].map((id) => ({ id, vector: [id, 1], k: id })), distance_metric: 'euclidean_squared' },
      NO_RETRY,
    );
    const res = await ns.write({ deletes: [2, 4] }, NO_RETRY);
    assert.equal(res.rows_affected, 2);
    assert.equal(res.rows_deleted, 2);
    assert.deepEqual(await ids(ns), [1, 3]);
    // Deleted documents are gone from vector search and filters too.
    const near = await ns.query({ rank_by: ['vector', 'ANN', [4, 1]], top_k: 10 });
    assert.deepEqual(near.rows.map((r) => r.id), [3, 1]);
    assert.deepEqual(await ids(ns, ['k', 'In', [2, 4]]), []);
  });

  test('return_affected_ids lists the upserted, patched and deleted ids', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    await ns.write(
      { upsert_rows: [1, 2].map((id) => ({ id, vector: [id, 0] })), distance_metric: 'euclidean_squared' },
      NO_RETRY,
    );
    const res = await ns.write(
      {
        upsert_rows: [{ id: 3, vector: [3, 0] }, { id: 4, vector: [4, 0] }],
        patch_rows: [{ id: 1, p: true }],
        deletes: [2],
        return_affected_ids: true,
      },
      NO_RETRY,
    );
    assert.equal(res.rows_affected, 4);
    assert.equal(res.rows_upserted, 2);
    assert.equal(res.rows_patched, 1);
    assert.equal(res.rows_deleted, 1);
    assert.deepEqual(sortIds(res.upserted_ids), [3, 4]);
    assert.deepEqual(res.patched_ids, [1]);
    assert.deepEqual(res.deleted_ids, [2]);
    assert.deepEqual(await ids(ns), [1, 3, 4]);
    assert.deepEqual(await ids(ns, ['p', 'Eq', true]), [1]);

    // Each list is there only when at least one document was affected that way.
    const only = await ns.write({ deletes: [3], return_affected_ids: true }, NO_RETRY);
    assert.deepEqual(only.deleted_ids, [3]);
    assert.equal(only.upserted_ids, undefined, JSON.stringify(only));
    assert.equal(only.patched_ids, undefined, JSON.stringify(only));
  });

  test('within one request upserts apply before patches, patches before deletes', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    await ns.write(
      {
        upsert_rows: [{ id: 7, vector: [1, 0], a: 1 }, { id: 8, vector: [0, 1], a: 2 }],
        patch_rows: [{ id: 7, b: 'patched' }],
        deletes: [8],
        distance_metric: 'euclidean_squared',
      },
      NO_RETRY,
    );
    const rows = await allRows(ns);
    assert.deepEqual(rows.map(withoutVector), [{ id: 7, a: 1, b: 'patched' }]);
  });
});

describe('vectors and ids', () => {
  test('vectors as base64 little-endian f32 equal the same vectors as float arrays', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    const vectors = { 1: [0.1, 0.2, 0.3], 2: [2, -2, 0.5], 3: [1e-3, 7.25, -0.7], 4: [0.25, 0.5, 0.75] };
    await ns.write(
      {
        upsert_rows: [
          { id: 1, vector: vectorToBase64(vectors[1]) },
          { id: 2, vector: vectors[2] },
        ],
        distance_metric: 'euclidean_squared',
      },
      NO_RETRY,
    );
    await ns.write(
      { upsert_columns: { id: [3, 4], vector: [vectorToBase64(vectors[3]), vectorToBase64(vectors[4])] } },
      NO_RETRY,
    );
    const floats = await ns.query({ rank_by: ['id', 'asc'], top_k: 10, include_attributes: ['vector'] });
    assert.deepEqual(floats.rows.map((r) => r.id), [1, 2, 3, 4]);
    for (const row of floats.rows) assertVectorEqual(row.vector, vectors[row.id], `vector ${row.id}`);

    const b64 = await ns.query({ rank_by: ['id', 'asc'], top_k: 10, include_attributes: ['vector'], vector_encoding: 'base64' });
    for (const row of b64.rows) {
      assert.equal(typeof row.vector, 'string', `base64 vector ${row.id}: ${JSON.stringify(row.vector)}`);
      assert.deepEqual(base64ToVector(row.vector), vectors[row.id].map(Math.fround), `vector ${row.id}`);
    }

    // Distances are computed from the stored values, however they were sent.
    const near = await ns.query({ rank_by: ['vector', 'kNN', [2, -2, 0.5]], filters: ['id', 'In', [1, 2, 3, 4]], top_k: 1 });
    assert.deepEqual(near.rows.map((r) => [r.id, r.$dist]), [[2, 0]]);
  });

  test('unsigned integer ids sort numerically and round-trip as numbers', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    const idList = [100, 2, 10, 0, 9007199254740991];
    await ns.write(
      { upsert_rows: idList.map((id, i) => ({ id, vector: [i, 1] })), distance_metric: 'euclidean_squared' },
      NO_RETRY,
    );
    assert.deepEqual(await ids(ns), [0, 2, 10, 100, 9007199254740991]);
    await ns.write({ deletes: [10] }, NO_RETRY);
    assert.deepEqual(await ids(ns, ['id', 'Gt', 2]), [100, 9007199254740991]);
    const schema = await ns.schema();
    assert.equal(schema.id?.type, 'uint', JSON.stringify(schema));
  });

  test('UUID string ids round-trip and can be deleted and filtered', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    const uuids = [
      'f47ac10b-58cc-4372-a567-0e02b2c3d479',
      '0e3a1f52-9b7d-4c1e-8f2a-3d4b5c6d7e8f',
      '9c858901-8a57-4791-81fe-4c455b099bc9',
    ];
    await ns.write(
      { upsert_rows: uuids.map((id, i) => ({ id, vector: [i, 0], i })), distance_metric: 'euclidean_squared' },
      NO_RETRY,
    );
    assert.deepEqual(await ids(ns), sortIds(uuids));
    const one = await ns.query({ rank_by: ['vector', 'kNN', [2, 0]], filters: ['id', 'In', uuids], top_k: 1, include_attributes: ['i'] });
    assert.deepEqual(one.rows, [{ id: uuids[2], $dist: 0, i: 2 }]);
    const res = await ns.write({ deletes: [uuids[0]], return_affected_ids: true }, NO_RETRY);
    assert.deepEqual(res.deleted_ids, [uuids[0]]);
    assert.deepEqual(await ids(ns), sortIds(uuids.slice(1)));
  });

  test('string ids sort lexicographically and round-trip', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    const strs = ['doc-9', 'doc-10', 'Zeta', 'alpha', 'ümlaut', 'a b/c?d'];
    await ns.write(
      { upsert_rows: strs.map((id, i) => ({ id, vector: [i, 1], i })), distance_metric: 'euclidean_squared' },
      NO_RETRY,
    );
    // Byte order of the UTF-8 strings: 'Zeta' < 'a b/c?d' < 'alpha' < 'doc-10' < 'doc-9' < 'ümlaut'.
    assert.deepEqual(await ids(ns), ['Zeta', 'a b/c?d', 'alpha', 'doc-10', 'doc-9', 'ümlaut']);
    await ns.write({ patch_rows: [{ id: 'doc-10', tagged: true }], deletes: ['alpha'] }, NO_RETRY);
    assert.deepEqual(await ids(ns, ['tagged', 'Eq', true]), ['doc-10']);
    assert.deepEqual(await ids(ns, ['id', 'Lt', 'b']), ['Zeta', 'a b/c?d']);
  });
});

describe('attribute types', () => {
  test('datetime attributes declared in the schema filter and sort chronologically', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    const times = {
      1: '2024-03-01T12:00:00Z',
      2: '2023-12-31T23:59:59Z',
      3: '2024-03-01T12:00:00.500Z',
      4: '2025-01-15T08:30:00Z',
    };
    await ns.write(
      {
        upsert_rows: Object.entries(times).map(([id, at]) => ({ id: Number(id), vector: [Number(id), 0], at })),
        distance_metric: 'euclidean_squared',
        schema: { at: { type: 'datetime' } },
      },
      NO_RETRY,
    );
    const schema = await ns.schema();
    assert.equal(schema.at?.type, 'datetime', JSON.stringify(schema));
    assert.deepEqual(await ids(ns, ['at', 'Gte', '2024-03-01T12:00:00Z']), [1, 3, 4]);
    assert.deepEqual(await ids(ns, ['at', 'Lt', '2024-01-01T00:00:00Z']), [2]);
    const desc = await ns.query({ rank_by: ['at', 'desc'], top_k: 10, include_attributes: ['at'] });
    assert.deepEqual(desc.rows.map((r) => r.id), [4, 3, 1, 2]);
    for (const row of desc.rows) {
      assert.equal(Date.parse(row.at), Date.parse(times[row.id]), `at of ${row.id}: ${row.at}`);
    }
  });
});

describe('atomicity', () => {
  test('a request with one invalid row is rejected and stores nothing', T, async () => {
    const ns = tpuf.namespace(nsName('writes'));
    await ns.write({ upsert_rows: [{ id: 1, vector: [1, 0, 0], v: 1 }], distance_metric: 'euclidean_squared' }, NO_RETRY);
    await expectApiError(
      ns.write(
        {
          upsert_rows: [
            { id: 2, vector: [0, 1, 0], v: 2 },
            { id: 3, vector: [0, 0, 1, 0], v: 3 }, // wrong dimensions
            { id: 4, vector: [1, 1, 1], v: 4 },
          ],
          patch_rows: [{ id: 1, v: 100 }],
          deletes: [1],
        },
        NO_RETRY,
      ),
      BadRequestError,
      400,
    );
    const rows = await allRows(ns);
    assert.deepEqual(rows.map(withoutVector), [{ id: 1, v: 1 }]);
  });
});

describe('writes by filter', () => {
  async function seeded() {
    const ns = tpuf.namespace(nsName('writes'));
    await ns.write(
      {
        upsert_rows: [
          { id: 5, vector: [0.7, 0.7], a: 0, status: 'draft' },
          { id: 6, vector: [0.7, 0.7], a: 1, status: 'draft' },
          { id: 7, vector: [0.7, 0.7], a: 2, status: 'live' },
          { id: 8, vector: [0.7, 0.7], a: 1, status: 'draft' },
          { id: 9, vector: [0.7, 0.7], a: 3, status: 'live' },
        ],
        distance_metric: 'euclidean_squared',
      },
      NO_RETRY,
    );
    return ns;
  }

  test('delete_by_filter deletes the matching documents and counts them', T, async () => {
    const ns = await seeded();
    let res = await ns.write({ delete_by_filter: ['a', 'Eq', 42] }, NO_RETRY);
    assert.equal(res.rows_affected, 0);
    assert.deepEqual(await ids(ns), [5, 6, 7, 8, 9]);

    res = await ns.write({ delete_by_filter: ['a', 'Eq', 1] }, NO_RETRY);
    assert.equal(res.rows_affected, 2);
    assert.equal(res.rows_deleted, 2);
    assert.deepEqual(await ids(ns), [5, 7, 9]);

    res = await ns.write({ delete_by_filter: ['a', 'Gt', 0], return_affected_ids: true }, NO_RETRY);
    assert.equal(res.rows_affected, 2);
    assert.deepEqual(sortIds(res.deleted_ids), [7, 9]);
    assert.deepEqual(await ids(ns), [5]);
  });

  test('patch_by_filter patches the matching documents only', T, async () => {
    const ns = await seeded();
    const res = await ns.write(
      { patch_by_filter: { filters: ['status', 'Eq', 'draft'], patch: { status: 'published', reviewed: true } } },
      NO_RETRY,
    );
    assert.equal(res.rows_affected, 3);
    assert.equal(res.rows_patched, 3);
    assert.deepEqual(await ids(ns, ['status', 'Eq', 'published']), [5, 6, 8]);
    assert.deepEqual(await ids(ns, ['reviewed', 'Eq', true]), [5, 6, 8]);
    assert.deepEqual(await ids(ns, ['status', 'Eq', 'live']), [7, 9]);
    const rows = await allRows(ns);
    // Vectors are f32; like turbopuffer (serde_json), the server writes each in its shortest
    // form that reads back as the same f32 ("0.7"), which JSON.parse reads as the double 0.7.
    assert.deepEqual(rows.find((r) => r.id === 6), { id: 6, vector: [0.7, 0.7], a: 1, status: 'published', reviewed: true });
  });
});

describe('conditional writes', () => {
  async function versioned() {
    const ns = tpuf.namespace(nsName('writes'));
    await ns.write(
      {
        upsert_rows: [
          { id: 1, vector: [1, 0], version: 5, state: 'x' },
          { id: 2, vector: [0, 1], version: 5, state: 'y' },
          { id: 3, vector: [1, 1], version: 5, state: 'x' },
        ],
        distance_metric: 'euclidean_squared',
      },
      NO_RETRY,
    );
    return ns;
  }

  test('upsert_condition with $ref_new upserts only the documents that pass; the rest are skipped', T, async () => {
    const ns = await versioned();
    const res = await ns.write(
      {
        upsert_rows: [
          { id: 1, vector: [2, 0], version: 6, state: 'newer' },
          { id: 2, vector: [0, 2], version: 4, state: 'older' },
          { id: 3, vector: [2, 2], version: 5, state: 'same' },
        ],
        upsert_condition: ['version', 'Lt', { $ref_new: 'version' }],
        return_affected_ids: true,
      },
      NO_RETRY,
    );
    assert.equal(res.rows_upserted, 1);
    assert.equal(res.rows_affected, 1);
    assert.deepEqual(res.upserted_ids, [1]);
    const rows = await allRows(ns);
    assert.deepEqual(rows.map(withoutVector), [
      { id: 1, version: 6, state: 'newer' },
      { id: 2, version: 5, state: 'y' },
      { id: 3, version: 5, state: 'x' },
    ]);
    assertVectorEqual(rows[0].vector, [2, 0]);
    assertVectorEqual(rows[1].vector, [0, 1]);
  });

  test('patch_condition patches only the documents that pass', T, async () => {
    const ns = await versioned();
    const res = await ns.write(
      {
        patch_rows: [
          { id: 1, version: 7, state: 'patched' },
          { id: 2, version: 3, state: 'stale' },
        ],
        patch_condition: ['And', [['version', 'Lt', { $ref_new: 'version' }], ['state', 'Eq', 'x']]],
        return_affected_ids: true,
      },
      NO_RETRY,
    );
    assert.equal(res.rows_patched, 1);
    assert.deepEqual(res.patched_ids, [1]);
    const rows = await allRows(ns);
    assert.deepEqual(rows.map(withoutVector), [
      { id: 1, version: 7, state: 'patched' },
      { id: 2, version: 5, state: 'y' },
      { id: 3, version: 5, state: 'x' },
    ]);
  });

  test('delete_condition deletes only the documents that pass', T, async () => {
    const ns = await versioned();
    const res = await ns.write(
      { deletes: [1, 2], delete_condition: ['state', 'Eq', 'x'], return_affected_ids: true },
      NO_RETRY,
    );
    assert.equal(res.rows_deleted, 1);
    assert.equal(res.rows_affected, 1);
    assert.deepEqual(res.deleted_ids, [1]);
    assert.deepEqual(await ids(ns), [2, 3]);
  });
});
