/**
 * Preloaded (`node --import`) into every process the benchmark starts. The benchmark talks to
 * its children over an IPC channel; when the benchmark dies without cleaning up (SIGKILL, a
 * crash), the channel closes and this ends the child, so no stray gateway keeps a port busy.
 * The channel is unref'd so it never keeps a child alive by itself.
 */
if (process.channel) {
  process.channel.unref();
  process.once("disconnect", () => {
    process.kill(process.pid, "SIGTERM");
    setTimeout(() => process.kill(process.pid, "SIGKILL"), 5_000).unref();
  });
}

