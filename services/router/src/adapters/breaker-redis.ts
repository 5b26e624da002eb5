import { Redis } from "ioredis";
import type { BreakerStore } from "../domain/breaker.js";

/** Count a failure in a window that starts at the first failure: INCR, and PEXPIRE on the first. */
const FAILURE_LUA = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

/** How long an open key outlives its cooldown, so a replica that starts later still sees it. */
const OPEN_KEY_GRACE_MS = 10 * 60_000;

/**
 * Breaker state in Redis, for the mesh: failure counts are atomic counters with a window
 * TTL, open state is a key per deployment holding its open-until time, and every change is
 * published on one channel so each replica's local copy follows within a round trip.
 */
export function createRedisBreakerStore(url: string, prefix: string): BreakerStore {
  const cmd = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
  let sub: Redis | undefined;
  const channel = `${prefix}breaker:changes`;
  const failKey = (id: string) => `${prefix}breaker:fail:${id}`;
  const openKey = (id: string) => `${prefix}breaker:open:${id}`;
  cmd.defineCommand("tesseraBreakerFailure", { numberOfKeys: 1, lua: FAILURE_LUA });
  const failure = (cmd as unknown as { tesseraBreakerFailure(key: string, windowMs: number): Promise<number> }).tesseraBreakerFailure.bind(cmd);

  return {
    async failure(id, windowMs) {
      return Number(await failure(failKey(id), windowMs));
    },
    async open(id, untilMs) {
      const ttl = Math.max(1, untilMs - Date.now()) + OPEN_KEY_GRACE_MS;
      await cmd.multi().set(openKey(id), String(untilMs), "PX", ttl).publish(channel, `${untilMs} ${id}`).exec();
    },
    async close(id) {
      await cmd.multi().del(openKey(id), failKey(id)).publish(channel, `0 ${id}`).exec();
    },
    async watch(onChange) {
      sub ??= cmd.duplicate();
      sub.on("message", (_ch: string, msg: string) => {
        const sp = msg.indexOf(" ");
        if (sp > 0) onChange(msg.slice(sp + 1), Number(msg.slice(0, sp)));
      });
      await sub.subscribe(channel);
    },
    async snapshot() {
      const out = new Map<string, number>();
      const keyPrefix = openKey("");
      let cursor = "0";
      do {
        const [next, keys] = await cmd.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 200);
        cursor = next;
        if (keys.length === 0) continue;
        const values = await cmd.mget(...keys);
        keys.forEach((k, i) => {
          const v = Number(values[i]);
          if (Number.isFinite(v) && v > 0) out.set(k.slice(keyPrefix.length), v);
        });
      } while (cursor !== "0");
      return out;
    },
    async stop() {
      await Promise.all([sub?.quit().catch(() => undefined), cmd.quit().catch(() => undefined)]);
    },
  };
}
