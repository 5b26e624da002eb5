/**
 * The fake OpenAI upstream as its own process, so its CPU is not mixed with the gateway's.
 * Prints `FAKE_URL <url>` on stdout once listening (the url ends in /v1); exits on SIGTERM.
 */
import { startFakeOpenAI } from "../../services/router/src/providers/openai/fake.js";

const fake = await startFakeOpenAI({ record: false });
process.stdout.write(`FAKE_URL ${fake.url}\n`);
const stop = () => {
  fake.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
