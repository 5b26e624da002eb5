import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type CallOptions } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { PromptAdminService } from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import { MeteringService } from "@tessera/gen/tessera/metering/v1/metering_pb";
import { UsageError } from "./args.js";
import { COMMANDS, type Command, type CommandContext, type CommandOutput, type OptionSpec } from "./commands.js";

/** Where the CLI writes and what environment it reads; `out` and `err` get whole lines. */
export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

/** Exit codes: success, a failed call (server or network), a usage mistake. */
const OK = 0;
const FAILED = 1;
const USAGE = 2;

const DEFAULT_URL = "http://127.0.0.1:8080";
const TIMEOUT_MS = 30_000;
const TO_JSON = { useProtoFieldName: true, alwaysEmitImplicit: true } as const;

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: { meta: "URL", help: `Tessera's address (default: $TESSERA_URL, else ${DEFAULT_URL})` },
  token: { meta: "TOKEN", help: "bearer token (default: $TESSERA_TOKEN, else $TESSERA_ADMIN_TOKEN)" },
};
const GLOBAL_FLAGS: Record<string, string> = { json: "print the raw JSON answer", help: "show help (also -h)" };

/** Options that take a value, across all commands: to tell option values from command words. */
const VALUE_OPTIONS = new Set([...Object.keys(GLOBAL_OPTIONS), ...COMMANDS.flatMap((c) => Object.keys(c.options ?? {}))]);

/** Node network errors that mean Tessera is not there at all. */
const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

const isGroup = (word: string) => COMMANDS.some((c) => c.name.startsWith(`${word} `));

/**
 * Split argv into the command's words ("keys", "create") and everything else, wherever the
 * options are: values of known options are never taken for command words.
 */
function splitWords(argv: readonly string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (a.startsWith("-") && a !== "-") {
      rest.push(a);
      if (VALUE_OPTIONS.has(a.replace(/^--?/, "")) && i + 1 < argv.length) rest.push(argv[++i]!);
      continue;
    }
    const wanted = words.length === 0 ? 1 : words.length === 1 && isGroup(words[0]!) ? 2 : words.length;
    (words.length < wanted ? words : rest).push(a);
  }
  return { words, rest };
}

/** `--name META` lines, aligned. */
function optionLines(options: Record<string, OptionSpec>, flags: Record<string, string> = {}): string[] {
  const rows = [...Object.entries(options).map(([n, o]) => [`--${n} ${o.meta}`, o.help] as const), ...Object.entries(flags).map(([n, h]) => [`--${n}`, h] as const)];
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`);
}

/** `tessera keys create --tenant T [--team TEAM] …`. */
function synopsis(cmd: Command): string {
  const required = new Set(cmd.required ?? []);
  const opts = Object.entries(cmd.options ?? {}).map(([n, o]) => (required.has(n) ? `--${n} ${o.meta}` : `[--${n} ${o.meta}]`));
  const args = (cmd.args ?? []).map((a) => `<${a}>`);
  return ["tessera", cmd.name, ...opts.filter((o) => !o.startsWith("[")), ...args, ...opts.filter((o) => o.startsWith("["))].join(" ");
}

/** A command's full help. */
function commandHelp(cmd: Command): string {
  const lines = [`usage: ${synopsis(cmd)}`, "", cmd.summary];
  if (cmd.options) lines.push("", "options:", ...optionLines(cmd.options));
  lines.push("", "global options:", ...optionLines(GLOBAL_OPTIONS, GLOBAL_FLAGS));
  return `${lines.join("\n")}\n`;
}

/** The commands (of one group, or all) with their summaries. */
function overview(group?: string): string {
  const cmds = COMMANDS.filter((c) => !group || c.name.startsWith(`${group} `));
  const rows = cmds.map((c) => [[c.name, ...(c.args ?? []).map((a) => `<${a}>`)].join(" "), c.summary] as const);
  const width = Math.max(...rows.map(([n]) => n.length));
  const lines = [
    `usage: tessera ${group ?? "<command>"} ${group ? "<subcommand> " : ""}[options]`,
    "",
    "commands:",
    ...rows.map(([n, s]) => `  ${n.padEnd(width)}  ${s}`),
    "",
    "global options:",
    ...optionLines(GLOBAL_OPTIONS, GLOBAL_FLAGS),
    "",
    `Run 'tessera ${group ?? "<command>"}${group ? " <subcommand>" : ""} --help' for a command's options.`,
  ];
  return `${lines.join("\n")}\n`;
}

/** Print a usage mistake with the command's synopsis; exit code 2. */
function usageError(io: CliIO, message: string, cmd?: Command): number {
  io.err(`tessera: ${message}\n`);
  io.err(cmd ? `usage: ${synopsis(cmd)}\nRun 'tessera ${cmd.name} --help' for details.\n` : overview());
  return USAGE;
}

/** What `help`, a bare group or an unknown command print. */
function helpOrUnknown(io: CliIO, words: readonly string[], wantHelp: boolean): number {
  const topic = words[0] === "help" ? words.slice(1) : words;
  const exact = COMMANDS.find((c) => c.name === topic.join(" "));
  if (exact) {
    io.out(commandHelp(exact));
    return OK;
  }
  const group = topic[0] !== undefined && isGroup(topic[0]) ? topic[0] : undefined;
  const asked = wantHelp || words[0] === "help";
  if (topic.length === 0 || (group && topic.length === 1)) {
    if (!asked && group) io.err(`tessera: '${group}' needs a subcommand\n`);
    (asked ? io.out : io.err)(overview(group));
    return asked ? OK : USAGE;
  }
  io.err(`tessera: unknown command '${topic.join(" ")}'\n`);
  io.err(overview(group));
  return USAGE;
}

/** parseArgs's message, its first sentence only. */
function parseArgsMessage(err: unknown): string {
  return String((err as Error).message).split(/\.(\s|$)/)[0]!;
}

/** The Connect options config for a command plus the global options. */
function optionsConfig(cmd: Command): NonNullable<ParseArgsConfig["options"]> {
  const config: NonNullable<ParseArgsConfig["options"]> = { json: { type: "boolean" }, help: { type: "boolean", short: "h" } };
  for (const name of [...Object.keys(GLOBAL_OPTIONS), ...Object.keys(cmd.options ?? {})]) config[name] = { type: "string" };
  return config;
}

/** The clients for --url and the call options carrying --token. */
function connect(url: string, token: string): Pick<CommandContext, "admin" | "prompts" | "metering" | "call"> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url must be an http(s) URL like ${DEFAULT_URL}, not '${url}'`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new UsageError(`--url must be an http(s) URL, not '${url}'`);
  const transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
  return {
    admin: createClient(AdminService, transport),
    prompts: createClient(PromptAdminService, transport),
    metering: createClient(MeteringService, transport),
    call: { headers: token ? { authorization: `Bearer ${token}` } : {}, timeoutMs: TIMEOUT_MS },
  };
}

/** Whether a failed call never reached a server. */
function unreachable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && UNREACHABLE.has(code)) return true;
    e = e.cause;
  }
  return false;
}

/** A failed call's one-line message: the server's own words, never the token. */
function failureMessage(err: unknown, url: string, token: string): string {
  if (unreachable(err)) return `cannot reach Tessera at ${url}; is it running (npm start)? set --url or TESSERA_URL`;
  const e = ConnectError.from(err);
  let msg = e.rawMessage || Code[e.code] || "request failed";
  if (token) msg = msg.split(token).join("[redacted]");
  if (e.code === Code.Unauthenticated && !token) msg += " (no token given: set --token or TESSERA_TOKEN)";
  return msg;
}

/** Print a command's answer: JSON with --json, readable lines otherwise; warnings on stderr. */
function print(io: CliIO, result: CommandOutput, json: boolean): void {
  io.out(json ? `${JSON.stringify(toJson(result.schema, result.message, TO_JSON), null, 2)}\n` : `${result.lines.join("\n")}\n`);
  for (const w of result.warnings ?? []) io.err(`warning: ${w}\n`);
}

/**
 * Run one `tessera` command line (argv without node and the script) and return the exit code:
 * 0 done, 1 the call failed (the message is printed as `tessera: …`), 2 a usage mistake (the
 * command's usage is printed).
 */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  const { words, rest } = splitWords(argv);
  const cmd = COMMANDS.find((c) => c.name === words.join(" "));
  if (!cmd) return helpOrUnknown(io, words[0] === "help" ? [...words, ...rest.filter((a) => !a.startsWith("-"))] : words, rest.includes("--help") || rest.includes("-h"));

  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...rest], options: optionsConfig(cmd), allowPositionals: true, strict: true }));
  } catch (err) {
    return usageError(io, parseArgsMessage(err), cmd);
  }
  if (values["help"]) {
    io.out(commandHelp(cmd));
    return OK;
  }
  const str = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : undefined);
  const url = str("url") ?? io.env["TESSERA_URL"] ?? DEFAULT_URL;
  const token = str("token") ?? io.env["TESSERA_TOKEN"] ?? io.env["TESSERA_ADMIN_TOKEN"] ?? "";
  try {
    const names = cmd.args ?? [];
    if (positionals.length < names.length) throw new UsageError(`missing <${names[positionals.length]}>`);
    if (positionals.length > names.length) throw new UsageError(`unexpected argument '${positionals[names.length]}'`);
    for (const r of cmd.required ?? []) if (!str(r)) throw new UsageError(`missing --${r}`);
    const ctx: CommandContext = {
      ...connect(url, token),
      opt: str,
      need: (name) => {
        const v = str(name);
        if (!v) throw new UsageError(`missing --${name}`);
        return v;
      },
      arg: (name) => positionals[names.indexOf(name)]!,
    };
    print(io, await cmd.run(ctx), values["json"] === true);
    return OK;
  } catch (err) {
    if (err instanceof UsageError) return usageError(io, err.message, cmd);
    io.err(`tessera: ${failureMessage(err, url, token)}\n`);
    return FAILED;
  }
}

/** The process entry: run argv, set the exit code. */
export async function main(): Promise<void> {
  process.exitCode = await run(process.argv.slice(2), {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
  });
}

/** Whether this module is the script node was started with (tsx, or the esbuild bundle). */
function isEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntry()) await main();
