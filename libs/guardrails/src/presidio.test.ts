import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { createPresidioAnalyzer, PRESIDIO_ENTITY_MAP } from "./presidio.js";

/** A stand-in for presidio-analyzer on 127.0.0.1: POST /analyze answers what the current test says. */
type Handler = (body: Record<string, unknown>, req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler;
let server: Server;
let base: string;
const seen: { path: string | undefined; method: string | undefined; contentType: string | undefined; body: Record<string, unknown> }[] = [];

const json = (res: ServerResponse, status: number, value: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
};

/** Presidio counts code points (Python str); compute its offsets for a substring. */
function cp(text: string, sub: string): { start: number; end: number } {
  const at = text.indexOf(sub);
  assert.ok(at >= 0);
  const start = [...text.slice(0, at)].length;
  return { start, end: start + [...sub].length };
}

before(async () => {
  server = createServer((req, res) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (data += c));
    req.on("end", () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(data) as Record<string, unknown>;
      } catch {
        /* the analyzer under test always sends JSON; leave {} */
      }
      seen.push({ path: req.url, method: req.method, contentType: req.headers["content-type"], body });
      if (req.method !== "POST" || !req.url?.endsWith("/analyze")) return json(res, 404, { error: "not found" });
      handler(body, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen.length = 0;
  handler = (_b, _q, res) => json(res, 200, []);
});

describe("createPresidioAnalyzer", () => {
  it("POSTs {text, language} to /analyze and maps entity types to ours", async () => {
    const text = "Jane Roe (jane@example.com, +1 212 555 0100) lives in Lisbon; wallet 1BoatSLRHtKNngkdXEeobR76b53LETtpyT; met on 2024-05-01; license D1234567";
    handler = (_b, _q, res) =>
      json(res, 200, [
        { entity_type: "PERSON", ...cp(text, "Jane Roe"), score: 0.85, analysis_explanation: null, recognition_metadata: { recognizer_name: "SpacyRecognizer" } },
        { entity_type: "EMAIL_ADDRESS", ...cp(text, "jane@example.com"), score: 1.0 },
        { entity_type: "PHONE_NUMBER", ...cp(text, "+1 212 555 0100"), score: 0.75 },
        { entity_type: "LOCATION", ...cp(text, "Lisbon"), score: 0.85 },
        { entity_type: "CRYPTO", ...cp(text, "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"), score: 1.0 },
        { entity_type: "DATE_TIME", ...cp(text, "2024-05-01"), score: 0.85 },
        { entity_type: "US_DRIVER_LICENSE", ...cp(text, "D1234567"), score: 0.65 },
        { entity_type: "NRP", start: 0, end: 4, score: 0.85 },
      ]);
    const analyze = createPresidioAnalyzer({ url: base });
    const f = await analyze(text);
    assert.deepEqual(
      f.map((x) => [x.type, text.slice(x.start, x.end), x.rule, x.score]),
      [
        ["person", "Jane Roe", "presidio:PERSON", 0.85],
        ["email", "jane@example.com", "presidio:EMAIL_ADDRESS", 1],
        ["phone", "+1 212 555 0100", "presidio:PHONE_NUMBER", 0.75],
        ["address", "Lisbon", "presidio:LOCATION", 0.85],
        ["secret", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "presidio:CRYPTO", 1],
      ],
    );
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.method, "POST");
    assert.equal(seen[0]!.path, "/analyze");
    assert.match(seen[0]!.contentType ?? "", /application\/json/);
    assert.deepEqual(seen[0]!.body, { text, language: "en" });
  });

  it("maps the rest of the documented types (card, iban, ssn, ip)", async () => {
    const text = "card 4111 1111 1111 1111 iban DE89370400440532013000 ssn 078-05-1126 ip 192.0.2.7";
    handler = (_b, _q, res) =>
      json(res, 200, [
        { entity_type: "CREDIT_CARD", ...cp(text, "4111 1111 1111 1111"), score: 1 },
        { entity_type: "IBAN_CODE", ...cp(text, "DE89370400440532013000"), score: 1 },
        { entity_type: "US_SSN", ...cp(text, "078-05-1126"), score: 0.85 },
        { entity_type: "IP_ADDRESS", ...cp(text, "192.0.2.7"), score: 0.95 },
      ]);
    const f = await createPresidioAnalyzer({ url: base })(text);
    assert.deepEqual(
      f.map((x) => x.type),
      ["card", "iban", "ssn", "ip"],
    );
    assert.equal(PRESIDIO_ENTITY_MAP["DATE_TIME"], undefined);
  });

  it("passes language, entities and score_threshold through, and drops results below the threshold", async () => {
    const text = "call Bob at 555-0100";
    handler = (_b, _q, res) =>
      json(res, 200, [
        { entity_type: "PERSON", ...cp(text, "Bob"), score: 0.4 },
        { entity_type: "PHONE_NUMBER", ...cp(text, "555-0100"), score: 0.7 },
      ]);
    const analyze = createPresidioAnalyzer({ url: base, language: "de", entities: ["PERSON", "PHONE_NUMBER"], scoreThreshold: 0.6 });
    const f = await analyze(text);
    assert.deepEqual(seen[0]!.body, { text, language: "de", entities: ["PERSON", "PHONE_NUMBER"], score_threshold: 0.6 });
    assert.deepEqual(
      f.map((x) => x.rule),
      ["presidio:PHONE_NUMBER"],
    );
  });

  it("maps DATE_TIME to dob only when asked", async () => {
    const text = "born 1990-02-03";
    handler = (_b, _q, res) => json(res, 200, [{ entity_type: "DATE_TIME", ...cp(text, "1990-02-03"), score: 0.85 }]);
    assert.deepEqual(await createPresidioAnalyzer({ url: base })(text), []);
    const f = await createPresidioAnalyzer({ url: base, dateTimeAsDob: true })(text);
    assert.deepEqual(
      f.map((x) => [x.type, x.rule]),
      [["dob", "presidio:DATE_TIME"]],
    );
  });

  it("converts Presidio's code-point offsets to UTF-16 offsets", async () => {
    const text = "🙂🙂 write to ana@example.org 𝒳 today, Ana Lima";
    handler = (_b, _q, res) =>
      json(res, 200, [
        { entity_type: "EMAIL_ADDRESS", ...cp(text, "ana@example.org"), score: 1 },
        { entity_type: "PERSON", ...cp(text, "Ana Lima"), score: 0.85 },
      ]);
    const f = await createPresidioAnalyzer({ url: base })(text);
    assert.deepEqual(
      f.map((x) => text.slice(x.start, x.end)),
      ["ana@example.org", "Ana Lima"],
    );
  });

  it("appends /analyze to a base path and ignores a trailing slash", async () => {
    await createPresidioAnalyzer({ url: `${base}/presidio/` })("hello");
    assert.equal(seen[0]!.path, "/presidio/analyze");
  });

  it("does not call the analyzer for an empty text", async () => {
    assert.deepEqual(await createPresidioAnalyzer({ url: base })(""), []);
    assert.equal(seen.length, 0);
  });

  it("uses fetchImpl when given", async () => {
    let calls = 0;
    const fetchImpl: typeof fetch = async (input, init) => {
      calls++;
      return fetch(input, init);
    };
    await createPresidioAnalyzer({ url: base, fetchImpl })("hello");
    assert.equal(calls, 1);
  });
});

describe("createPresidioAnalyzer: failures say what to check, never the text", () => {
  const secretText = "my name is Zebulon Quartermain and my card is 4111111111111111";
  const noText = (e: Error) => {
    assert.ok(!e.message.includes("Zebulon") && !e.message.includes("4111"), e.message);
  };

  it("times out", async () => {
    handler = (_b, _q, res) => {
      const t = setTimeout(() => json(res, 200, []), 1000);
      res.on("close", () => clearTimeout(t));
    };
    const analyze = createPresidioAnalyzer({ url: base, timeoutMs: 100 });
    const t0 = performance.now();
    await assert.rejects(analyze(secretText), (e: Error) => {
      assert.match(e.message, /did not answer within 100 ms/);
      assert.match(e.message, /timeout_ms|running/);
      noText(e);
      return true;
    });
    assert.ok(performance.now() - t0 < 900);
  });

  it("HTTP 500", async () => {
    handler = (_b, _q, res) => json(res, 500, { error: `failed on ${secretText}` });
    await assert.rejects(createPresidioAnalyzer({ url: base })(secretText), (e: Error) => {
      assert.match(e.message, /answered HTTP 500/);
      assert.match(e.message, /logs/);
      noText(e);
      return true;
    });
  });

  it("HTTP 422 (e.g. an unsupported language)", async () => {
    handler = (_b, _q, res) => json(res, 422, { error: "No matching recognizers were found to serve the request." });
    await assert.rejects(createPresidioAnalyzer({ url: base, language: "xx" })(secretText), /HTTP 422; check that language "xx"/);
  });

  it("garbage JSON", async () => {
    handler = (_b, _q, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`[{"entity_type": "PERSON", "start": 11, ${secretText}`);
    };
    await assert.rejects(createPresidioAnalyzer({ url: base })(secretText), (e: Error) => {
      assert.match(e.message, /not JSON/);
      noText(e);
      return true;
    });
  });

  it("JSON that is not a list, and results without valid fields or offsets", async () => {
    handler = (_b, _q, res) => json(res, 200, { text: secretText, items: [] });
    await assert.rejects(createPresidioAnalyzer({ url: base })(secretText), /not a list of results/);
    handler = (_b, _q, res) => json(res, 200, [{ entity_type: "PERSON", start: "11", end: 29, score: 0.85 }]);
    await assert.rejects(createPresidioAnalyzer({ url: base })(secretText), /result #0 without a valid/);
    handler = (_b, _q, res) => json(res, 200, [{ entity_type: "PERSON", start: 11, end: 9999, score: 0.85 }]);
    await assert.rejects(createPresidioAnalyzer({ url: base })(secretText), /offsets outside the text/);
  });

  it("connection refused, without credentials from the URL in the message", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(createPresidioAnalyzer({ url: `http://svc:hunter2@127.0.0.1:${port}` })(secretText), (e: Error) => {
      assert.match(e.message, /could not reach the Presidio analyzer at http:\/\/127\.0\.0\.1:\d+\/analyze/);
      assert.match(e.message, /check analyzer\.url/);
      assert.ok(!e.message.includes("hunter2"));
      noText(e);
      return true;
    });
  });

  it("rejects a bad URL or timeout when created", () => {
    assert.throws(() => createPresidioAnalyzer({ url: "not a url" }), /not a valid URL/);
    assert.throws(() => createPresidioAnalyzer({ url: "ftp://host" }), /must be http\(s\)/);
    assert.throws(() => createPresidioAnalyzer({ url: base, timeoutMs: 0 }), /timeoutMs/);
  });
});
