import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeTime, isValid } from "ulid";
import { ulid } from "./ulid.js";

test("ids are valid ULIDs whose time decodes back", () => {
  const t = Date.UTC(2026, 10, 22, 3, 0, 0, 123);
  const id = ulid(t);
  assert.equal(id.length, 26);
  assert.ok(isValid(id));
  assert.equal(decodeTime(id), t);
});

test("ids are unique and sort in creation order, within and across milliseconds", () => {
  const ids: string[] = [];
  const t = Date.now() + 10_000;
  for (let i = 0; i < 5000; i++) ids.push(ulid(t + Math.floor(i / 1000)));
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
});

test("a clock that steps back keeps ids increasing", () => {
  const t = Date.now() + 20_000;
  const a = ulid(t);
  const b = ulid(t - 5);
  assert.ok(b > a);
});
