import { Ajv, type ValidateFunction } from "ajv";
import { TesseraError } from "@tessera/runtime";

const ajv = new Ajv({ strict: false, allErrors: false });
/** Compiled validators by prompt, version and schema text (versions are immutable). */
const compiled = new Map<string, ValidateFunction>();

/**
 * A check of a prompt API's answer against its version's output schema: the answer must be
 * JSON matching it, else a 502 naming the prompt, the version and the first mismatch. Returns
 * the parsed answer (a chain's next steps read it).
 */
export function outputCheck(prompt: string, version: number, schema: Record<string, unknown>): (answer: string) => unknown {
  const key = `${prompt}@${version}:${JSON.stringify(schema)}`;
  let validate = compiled.get(key);
  if (!validate) {
    if (compiled.size > 1000) compiled.clear();
    compiled.set(key, (validate = ajv.compile(schema)));
  }
  const v = validate;
  return (answer) => {
    const fail = (what: string) =>
      new TesseraError("upstream_error", `The answer of prompt '${prompt}' version ${version} does not match its output schema: ${what}.`, { code: "output_schema_mismatch", status: 502 });
    let doc: unknown;
    try {
      doc = JSON.parse(answer);
    } catch {
      throw fail("it is not JSON");
    }
    if (!v(doc)) {
      const e = v.errors?.[0];
      throw fail(e ? `${e.instancePath || "(root)"} ${e.message ?? "is invalid"}` : "it is invalid");
    }
    return doc;
  };
}
