import { memoryLogger } from "./log.js";
import { startFakeOpenAI, type FakeOpenAI } from "../../services/router/src/providers/openai/fake.js";
import { startFakeAnthropic, type FakeAnthropic } from "../../services/router/src/providers/anthropic/fake.js";
import { startFakeGemini, type FakeGemini } from "../../services/router/src/providers/gemini/fake.js";
import { startAllInOne, type AllInOne } from "@tessera/all-in-one";
import { testConfig, type TestConfigOptions } from "./config.js";

export { memoryLogger };

/** An all-in-one gateway in front of a fake OpenAI upstream, on free loopback ports. */
export async function startTestGateway(o: Partial<TestConfigOptions> = {}): Promise<{
  gw: AllInOne;
  fake: FakeOpenAI;
  anthropic: FakeAnthropic;
  gemini: FakeGemini;
  url: string;
  logLines: string[];
  stop: () => Promise<void>;
}> {
  const fake = await startFakeOpenAI();
  const anthropic = await startFakeAnthropic();
  const gemini = await startFakeGemini();
  const { log, lines } = memoryLogger("tessera");
  const gw = await startAllInOne(testConfig({ fakeUrl: fake.url, anthropicUrl: anthropic.url, geminiUrl: gemini.url, ...o }), log);
  return {
    gw,
    fake,
    anthropic,
    gemini,
    url: gw.server.url,
    logLines: lines,
    stop: async () => {
      await gw.stop();
      await fake.close();
      await anthropic.close();
      await gemini.close();
    },
  };
}
