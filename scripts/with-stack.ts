/**
 * Runs a command against a fresh emulator stack and exits with the command's exit code:
 *
 *   tsx scripts/with-stack.ts [--name test] [--offset 10] -- <command ...>
 *
 * It builds the functions, then runs `firebase emulators:exec` (Auth, Firestore, Functions,
 * Pub/Sub, Hosting) with the stack's env, so the command sees FIRESTORE_EMULATOR_HOST,
 * PUBSUB_EMULATOR_HOST, FIREBASE_AUTH_EMULATOR_HOST, GCLOUD_PROJECT and ORCH_API_URL,
 * ORCH_HOSTING_URL, ORCH_HUB_URL. Defaults: stack "test" on port offset 10, so it never collides
 * with a demo stack on the default ports.
 *
 * When Java 21+ or the Cloud CLI emulators are missing, it prints one line saying so and runs
 * the command anyway with ORCH_EMULATORS_MISSING=<reason>, so the tests that need the stack can
 * skip with that reason.
 *
 * Under CI (CI=true) a missing Java or emulator fails the run with that line instead, so a green
 * CI always means the integration suites ran.
 *
 * `--log <file>` keeps the build's, firebase-tools' and the emulators' output out of the terminal:
 * it goes to the file, and only the command's own output is shown (it travels over a local
 * socket, since firebase-tools hands its own stdout to the command). `--verbose` also shows the
 * stack's output live.
 *
 * One argument is run through the shell (`-- "mocha --grep 'a b'"`); several are run directly.
 * withStack() is exported for test runner scripts.
 */

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildFunctions,
  describeEmulators,
  firebaseArgs,
  firebaseBin,
  hubEmulators,
  portsFree,
  prepareStack,
  reportError,
  stackConfig,
  StackSetupError,
  stackEnv,
  stackWorkDir,
  startWarehouse,
  type Stack,
} from "./lib/stack.js";
import { underCi } from "./lib/test-summary.js";

const selfPath = fileURLToPath(import.meta.url);
const INNER_FLAG = "--run-inside-stack";

/**
 * Spawns a command (via the shell when it is one string without args) and resolves its exit code.
 * With `output` (a writable stream) its stdout and stderr go there instead of the terminal.
 */
function runCommand(
  command: string,
  args: readonly string[],
  { env, cwd, output }: { env: NodeJS.ProcessEnv; cwd: string; output?: NodeJS.WritableStream | undefined },
): Promise<number> {
  return new Promise((resolve) => {
    const useShell = args.length === 0;
    const child = spawn(command, args, {
      stdio: output ? ["inherit", "pipe", "pipe"] : "inherit",
      env,
      cwd,
      shell: useShell,
    });
    if (output) {
      child.stdout?.pipe(output, { end: false });
      child.stderr?.pipe(output, { end: false });
    }
    const forward = (sig: NodeJS.Signals) => {
      if (child.exitCode === null) child.kill(sig);
    };
    const onInt = () => forward("SIGINT");
    const onTerm = () => forward("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    child.on("error", (err) => {
      console.error(`Could not run ${command}: ${err.message}`);
      resolve(127);
    });
    child.on("exit", (code, signal) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(code ?? (signal ? 128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1) : 1));
    });
  });
}

/**
 * Where the stack's own output goes: the terminal, or a log file (and the terminal too when
 * verbose). Answers { fd, write(chunk), close() }; fd is for child processes' stdio.
 */
interface StackOutput {
  fd: "inherit" | "pipe" | number;
  write(chunk: string | Buffer): void;
  toFile(chunk: string | Buffer): void;
  close(): void;
}

function stackOutput(logFile: string | undefined, verbose: boolean): StackOutput {
  if (!logFile) {
    const toTerminal = (chunk: string | Buffer) => {
      process.stdout.write(chunk);
    };
    return { fd: "inherit", write: toTerminal, toFile: toTerminal, close() {} };
  }
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  fs.writeFileSync(logFile, "");
  // Appending, because the command inside the stack may append its own details to the same file.
  const fd = fs.openSync(logFile, "a");
  const toFile = (chunk: string | Buffer) => {
    fs.writeSync(fd, typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  };
  return {
    fd: verbose ? "pipe" : fd,
    write(chunk) {
      toFile(chunk);
      if (verbose) process.stdout.write(chunk);
    },
    toFile,
    close: () => fs.closeSync(fd),
  };
}

/**
 * A local socket the command inside the stack writes its output to (firebase-tools owns the
 * command's stdout); what arrives is shown on the terminal and copied into the log.
 */
async function startCommandChannel(
  log: StackOutput,
): Promise<{ socketPath: string; close: () => Promise<void> }> {
  const socketPath = path.join(os.tmpdir(), `orch-stack-${process.pid}.sock`);
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer((socket) =>
    socket.on("data", (chunk: Buffer) => {
      process.stdout.write(chunk);
      log.toFile(chunk);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) =>
        server.close(() => {
          fs.rmSync(socketPath, { force: true });
          resolve();
        }),
      ),
  };
}

/**
 * Runs `command args...` inside a stack and resolves its exit code.
 * Options: name (default "test"), offset (default 10), command, args (default []), cwd
 * (default process.cwd()), env (extra env for the command), logFile (the stack's output goes
 * there, not to the terminal), verbose (with logFile: show it live too), say (where the stack's
 * one-line notes go; default console.error).
 */
export interface WithStackOptions {
  name?: string;
  offset?: number;
  command: string;
  args?: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logFile?: string | undefined;
  verbose?: boolean;
  say?: (line: string) => void;
}

export async function withStack({
  name = "test",
  offset = 10,
  command,
  args = [],
  cwd = process.cwd(),
  env: extraEnv = {},
  logFile,
  verbose = false,
  say = (line) => console.error(line),
}: WithStackOptions): Promise<number> {
  if (!command) throw new StackSetupError("withStack: no command given");
  let stack: Stack;
  try {
    stack = prepareStack({ name, portOffset: offset });
  } catch (err) {
    if (!(err instanceof StackSetupError)) throw err;
    const reason = err.message;
    if (underCi()) throw new StackSetupError(`emulators: cannot start under CI: ${reason}`);
    // Java or the Cloud CLI emulators are missing: run the command without a stack.
    say(`emulators: not started: ${reason}`);
    const bare = stackConfig({ name, portOffset: offset });
    const env = { ...stackEnv(bare), ...extraEnv, ORCH_EMULATORS_MISSING: reason };
    return runCommand(command, args, { env, cwd });
  }
  await portsFree(stack);
  const log = stackOutput(logFile, verbose);
  try {
    return await runInStack({ stack, command, args, cwd, extraEnv, log, logFile, verbose });
  } finally {
    log.close();
  }
}

async function runInStack({
  stack,
  command,
  args,
  cwd,
  extraEnv,
  log,
  logFile,
  verbose,
}: {
  stack: Stack;
  command: string;
  args: readonly string[];
  cwd: string;
  extraEnv: NodeJS.ProcessEnv;
  log: StackOutput;
  logFile: string | undefined;
  verbose: boolean;
}): Promise<number> {
  const logLine = (line: string) => log.write(`${line}\n`);
  await buildFunctions({
    output: log.fd === "pipe" || log.fd === "inherit" ? "inherit" : log.fd,
    log: logFile ? logLine : console.log,
  });

  const workDir = stackWorkDir(stack);
  // The command travels in a request file, so firebase-tools' shell never has to quote it.
  const requestFile = path.join(workDir, `with-stack-${process.pid}.request.json`);
  const resultFile = path.join(workDir, `with-stack-${process.pid}.result.json`);
  fs.rmSync(resultFile, { force: true });
  fs.writeFileSync(requestFile, JSON.stringify({ command, args, cwd, resultFile }));
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  // This file again, inside the stack, under the same Node with tsx's loader.
  const inner = `${q(process.execPath)} --import ${q(import.meta.resolve("tsx"))} ${q(path.relative(workDir, selfPath))} ${INNER_FLAG} ${q(path.basename(requestFile))}`;
  const channel = logFile ? await startCommandChannel(log) : null;
  const env: NodeJS.ProcessEnv = {
    ...stackEnv(stack),
    ...extraEnv,
    ...(channel
      ? { ORCH_COMMAND_SOCKET: channel.socketPath, ORCH_STACK_LOG: logFile, ORCH_VERBOSE: verbose ? "1" : "" }
      : {}),
  };
  const [node, firebase] = firebaseBin();

  const child = spawn(node, [firebase, ...firebaseArgs(stack, "emulators:exec", [inner])], {
    cwd: workDir,
    env,
    stdio: logFile ? ["inherit", "pipe", "pipe"] : "inherit",
  });
  if (logFile) {
    child.stdout?.on("data", (chunk: Buffer) => log.write(chunk));
    child.stderr?.on("data", (chunk: Buffer) => log.write(chunk));
  }
  const readResult = (): InnerResult | null => {
    try {
      return JSON.parse(fs.readFileSync(resultFile, "utf8")) as InnerResult;
    } catch {
      return null;
    }
  };
  // On a signal to us alone (not the whole terminal group): stop firebase-tools and the command.
  const forward = (sig: NodeJS.Signals) => {
    if (child.exitCode === null) child.kill(sig);
    const innerPid = readResult()?.pid;
    if (innerPid) {
      try {
        process.kill(innerPid, sig);
      } catch {
        // already gone
      }
    }
  };
  const onInt = () => forward("SIGINT");
  const onTerm = () => forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  const killOnExit = () => {
    if (child.exitCode === null) child.kill("SIGTERM");
  };
  process.on("exit", killOnExit);

  const fbCode = await new Promise<number>((resolve) => {
    child.on("error", (err) => {
      console.error(`Could not run firebase-tools: ${err.message}`);
      resolve(1);
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
  process.off("SIGINT", onInt);
  process.off("SIGTERM", onTerm);
  process.off("exit", killOnExit);
  await channel?.close();

  const result = readResult();
  fs.rmSync(resultFile, { force: true });
  fs.rmSync(requestFile, { force: true });
  if (result && typeof result.code === "number") return result.code;
  if (result) {
    console.error("with-stack: the command was interrupted");
    return fbCode || 1;
  }
  console.error(
    `with-stack: the emulators did not start (firebase-tools exited with ${fbCode}); the command did not run` +
      (logFile ? `; see ${logFile}` : ""),
  );
  return fbCode || 1;
}

/** What the command inside the stack writes back: its pid at once, its exit code at the end. */
interface InnerResult {
  pid?: number;
  code?: number;
}

/** Runs inside `firebase emulators:exec`: prints the running emulators, then runs the command. */
async function inner(requestFile: string): Promise<number> {
  const { command, args, cwd, resultFile } = JSON.parse(fs.readFileSync(requestFile, "utf8")) as {
    command: string;
    args: string[];
    cwd: string;
    resultFile: string;
  };
  fs.writeFileSync(resultFile, JSON.stringify({ pid: process.pid }));
  const hub = process.env.FIREBASE_EMULATOR_HUB
    ? `http://${process.env.FIREBASE_EMULATOR_HUB}`
    : (process.env.ORCH_HUB_URL ?? "");
  const listed = await hubEmulators(hub);
  console.log(`emulators: ${listed ? describeEmulators(listed) : `hub ${hub} did not answer`}`);
  const warehouse = await startWarehouse({
    env: process.env,
    stackName: process.env.ORCH_STACK ?? "test",
    fresh: true,
  });
  console.log(
    `warehouse: DuckDB ${path.relative(cwd, warehouse.db)} (stands in for BigQuery) on ${warehouse.url}`,
  );
  const socketPath = process.env.ORCH_COMMAND_SOCKET;
  const output = socketPath
    ? await new Promise<net.Socket>((resolve, reject) => {
        const socket = net.createConnection(socketPath, () => resolve(socket));
        socket.once("error", reject);
      })
    : undefined;
  const code = await runCommand(command, args, { env: process.env, cwd, output });
  if (output) await new Promise<void>((resolve) => output.end(resolve));
  await warehouse.stop();
  fs.writeFileSync(resultFile, JSON.stringify({ pid: process.pid, code }));
  return code;
}

function parseCli(argv: readonly string[]): WithStackOptions {
  const opts: { name: string; offset: number; verbose: boolean; logFile?: string } = {
    name: "test",
    offset: 10,
    verbose: false,
  };
  /** The value after a flag (a missing one is the usage error below: no command). */
  const next = () => argv[++i] ?? "";
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      i++;
      break;
    } else if (a === "--name") opts.name = next();
    else if (a.startsWith("--name=")) opts.name = a.slice(7);
    else if (a === "--offset") opts.offset = Number(next());
    else if (a.startsWith("--offset=")) opts.offset = Number(a.slice(9));
    else if (a === "--log") opts.logFile = path.resolve(next());
    else if (a.startsWith("--log=")) opts.logFile = path.resolve(a.slice(6));
    else if (a === "--verbose") opts.verbose = true;
    else break; // the command starts here (no `--`)
  }
  const [command, ...args] = argv.slice(i);
  if (command === undefined) {
    throw new StackSetupError(
      "Usage: tsx scripts/with-stack.ts [--name test] [--offset 10] [--log <file> [--verbose]] -- <command ...>",
    );
  }
  return { ...opts, command, args };
}

if (process.argv[1] && path.resolve(process.argv[1]) === selfPath) {
  const argv = process.argv.slice(2);
  const run =
    argv[0] === INNER_FLAG
      ? inner(argv[1] ?? "")
      : // A usage error is reported like any other, as one line.
        Promise.resolve().then(() => withStack(parseCli(argv)));
  run.then(
    (code) => process.exit(code),
    (err: unknown) => {
      reportError(err);
      process.exit(1);
    },
  );
}
