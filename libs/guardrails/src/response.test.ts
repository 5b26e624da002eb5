import { test } from "node:test";
import assert from "node:assert/strict";
import { compilePolicy } from "./policy.js";
import { ResponseRedactor } from "./response.js";

const KEY = Buffer.from("test-key");
const masking = compilePolicy("p", { entities: {}, min_score: 0.5, responses: true, injection: { threshold: 0.7, action: "flag", tool_results: true } }, KEY);
const restoreOnly = compilePolicy("r", { entities: {}, min_score: 0.5, responses: false, injection: { threshold: 0.7, action: "flag", tool_results: true } }, KEY);
const tokens = new Map([
  ["<EMAIL_1>", "jane@corp.example"],
  ["<PHONE_2>", "+44 20 7946 0958"],
]);

/** Stream `text` cut at the given positions through one cursor; the concatenated output. */
function streamed(r: ResponseRedactor, text: string, cuts: number[]): string {
  const c = r.stream();
  let out = "";
  let at = 0;
  for (const cut of [...cuts, text.length]) {
    out += c.push(text.slice(at, cut));
    at = cut;
  }
  return out + c.end();
}

test("whole answers: tokens restored, new entities masked after the request's numbers", () => {
  const r = new ResponseRedactor(masking, tokens, new Map([["EMAIL", 1]]));
  assert.equal(r.text("Sent to <EMAIL_1>, cc bob@example.org."), "Sent to jane@corp.example, cc <EMAIL_2>.");
  assert.deepEqual(r.counts, { email: 1 });
  assert.equal(r.text("<EMAIL_9> is not ours"), "<EMAIL_9> is not ours", "unknown placeholders stay literal");
});

test("a placeholder split at every position of a stream is restored", () => {
  const text = "Mail <EMAIL_1> and call <PHONE_2> today.";
  for (const policy of [restoreOnly, masking]) {
    for (let i = 1; i < text.length; i++) {
      const r = new ResponseRedactor(policy, tokens);
      assert.equal(streamed(r, text, [i]), "Mail jane@corp.example and call +44 20 7946 0958 today.", `cut at ${i}`);
    }
  }
});

test("an e-mail and a spaced card number split at every position are masked whole", () => {
  const text = "Write bob@example.org or pay 4111 1111 1111 1111 now";
  for (let i = 1; i < text.length; i++) {
    for (let j = i + 1; j < text.length; j += 7) {
      const r = new ResponseRedactor(masking, new Map());
      const out = streamed(r, text, [i, j]);
      assert.equal(out, "Write <EMAIL_1> or pay <CARD_1> now", `cuts at ${i}, ${j}: ${out}`);
    }
  }
});

test("restore-only streams hold back nothing but an unfinished placeholder", () => {
  const r = new ResponseRedactor(restoreOnly, tokens);
  const c = r.stream();
  assert.equal(c.push("Hello wor"), "Hello wor");
  assert.equal(c.push("ld <EMA"), "ld ");
  assert.equal(c.push("IL_1> done"), "jane@corp.example done");
  assert.equal(c.end(), "");
});

test("masking streams hold back at most the last word, and never more than 256 characters", () => {
  const r = new ResponseRedactor(masking, new Map());
  const c = r.stream();
  assert.equal(c.push("Hello wor"), "Hello ");
  assert.equal(c.push("ld, how "), "world, how ");
  const long = "x".repeat(1000);
  const out = c.push(long);
  assert.ok(out.length >= 1000 - 256, `held back ${1000 - out.length}`);
  assert.equal(out + c.end(), long);
});

test("an inactive redactor says so (surfaces may then pass chunks through)", () => {
  assert.equal(new ResponseRedactor(restoreOnly, new Map()).active, false);
  assert.equal(new ResponseRedactor(undefined, new Map()).active, false);
  assert.equal(new ResponseRedactor(restoreOnly, tokens).active, true);
  assert.equal(new ResponseRedactor(masking, new Map()).active, true);
});
