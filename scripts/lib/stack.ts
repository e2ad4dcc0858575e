/**
 * Helpers that run the local Firebase emulator stack (Auth, Firestore, Functions, Pub/Sub,
 * Hosting) with firebase-tools on this machine, with node: built-ins only.
 *
 * Why this exists (see DESIGN.md "Local stack facts"):
 * - firebase-tools needs Java 21+, the machine's default `java` may be older, so we pick a
 *   Java 21+ from JAVA_HOME or the system's JVM directory and put it first on PATH.
 * - firebase-tools cannot download its emulator jars here, so we point it at the Firestore
 *   and Pub/Sub emulators of the installed Google Cloud CLI. The CLI's Firestore jar has no
 *   Main-Class, so we generate a small wrapper jar that `java -jar` can run.
 * - Several stacks (demo, tests) may run side by side: each gets its own project id, config
 *   file and port offset.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath, pathToFileURL } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const stackDir = path.join(repoRoot, ".stack");
export const functionsDir = path.join(repoRoot, "functions");

export const EMULATORS = ["auth", "firestore", "functions", "pubsub", "hosting"];
export const BASE_PROJECT_ID = "demo-orchestration";
const FIRESTORE_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore";
const INSTALL_EMULATORS_HINT =
  "install them with `apt-get install google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator` " +
  "or `gcloud components install cloud-firestore-emulator pubsub-emulator`";

/** Ports by emulator (auth, firestore, functions, pubsub, hosting, hub, ...). */
export type StackPorts = Record<string, number> &
  Record<"auth" | "firestore" | "functions" | "pubsub" | "hosting" | "hub", number>;

/** A stack as stackConfig() describes it; prepareStack() adds the Java and emulator binaries. */
export interface Stack {
  name: string;
  portOffset: number;
  configPath: string;
  ports: StackPorts;
  hosts: Record<string, string>;
  projectId: string;
  java?: string;
  javaHome?: string;
  firestoreJar?: string;
  pubsubBinary?: string;
  firestoreWrapperJar?: string;
}

/** An error whose message is one line meant for the user, printed without a stack trace. */
export class StackSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StackSetupError";
  }
}

// ---------------------------------------------------------------------------------------------
// Java

/** Looks a command up on PATH (like `which`); returns its path or null. */
export function which(cmd: string, envPath = process.env.PATH ?? ""): string | null {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, cmd);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Major version of a `java` binary (8 for "1.8.0_x"), or null when it cannot be run. */
export function javaMajorVersion(javaBin: string): number | null {
  const res = spawnSync(javaBin, ["-version"], { encoding: "utf8", timeout: 20_000 });
  if (res.error || res.status !== 0) return null;
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${res.stderr}\n${res.stdout}`);
  if (!m) return null;
  const major = Number(m[1]);
  return major === 1 && m[2] ? Number(m[2]) : major;
}

function realpathOrNull(p: string): string | null {
  try {
    return fs.realpathSync(p);
  } catch {
    return null;
  }
}

/**
 * Path of a Java 21+ `java` binary: $JAVA_HOME/bin/java if it is 21+, else the newest 21+ JDK
 * in the directory that holds the default JDK (found by resolving `java` on PATH). Throws a
 * StackSetupError with one clear line when there is none.
 */
export function findJava({ minMajor = 21 } = {}): string {
  const candidates: { bin: string; major: number | null }[] = [];
  const seen = new Set<string>();
  const add = (bin: string) => {
    const real = realpathOrNull(bin);
    if (!real || seen.has(real)) return;
    seen.add(real);
    candidates.push({ bin: real, major: javaMajorVersion(real) });
  };

  if (process.env.JAVA_HOME) {
    const bin = path.join(process.env.JAVA_HOME, "bin", "java");
    add(bin);
    const first = candidates[0];
    if (first && first.major && first.major >= minMajor) return first.bin;
  }

  // Every JDK beside the default one (and beside JAVA_HOME): <jvmDir>/<jdk>/bin/java.
  const defaultJava = which("java");
  const defaultReal = defaultJava && realpathOrNull(defaultJava);
  const jvmDirs = new Set<string>();
  if (defaultReal) {
    add(defaultReal);
    jvmDirs.add(path.dirname(path.dirname(path.dirname(defaultReal))));
  }
  const first = candidates[0];
  if (first && process.env.JAVA_HOME) {
    jvmDirs.add(path.dirname(path.dirname(path.dirname(first.bin))));
  }
  for (const jvmDir of jvmDirs) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(jvmDir);
    } catch {
      entries = [];
    }
    for (const entry of entries.sort()) {
      const bin = path.join(jvmDir, entry, "bin", "java");
      if (fs.existsSync(bin)) add(bin);
    }
  }

  const good = candidates
    .flatMap((c) => (c.major !== null && c.major >= minMajor ? [{ bin: c.bin, major: c.major }] : []))
    .sort((a, b) => b.major - a.major);
  if (good[0]) return good[0].bin;

  const found = defaultJava
    ? `found ${javaMajorVersion(defaultJava) ?? "an unusable java"} at ${defaultJava}`
    : first
      ? `found ${first.major ?? "an unusable java"} at ${first.bin}`
      : "found no java on PATH";
  throw new StackSetupError(
    `Java ${minMajor} or newer is needed for the Firestore and Pub/Sub emulators; ${found}; ` +
      `install a JDK ${minMajor}+ (e.g. apt-get install openjdk-21-jre-headless / temurin) or set JAVA_HOME`,
  );
}

/** JAVA_HOME for a java binary (<home>/bin/java). */
export function javaHomeOf(javaBin: string): string {
  return path.dirname(path.dirname(fs.realpathSync(javaBin)));
}

// ---------------------------------------------------------------------------------------------
// Google Cloud CLI emulators

/** { sdkRoot, firestoreJar, pubsubBinary } from the installed Google Cloud CLI. */
export function findGcloudEmulators(): { sdkRoot: string; firestoreJar: string; pubsubBinary: string } {
  const gcloud = which("gcloud");
  if (!gcloud) {
    throw new StackSetupError(
      "The Google Cloud CLI (gcloud) is needed for the Firestore and Pub/Sub emulators but is not on PATH; " +
        `install google-cloud-cli, then ${INSTALL_EMULATORS_HINT}`,
    );
  }
  const res = spawnSync(gcloud, ["info", "--format=value(installation.sdk_root)"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  const sdkRoot = (res.stdout ?? "").trim();
  if (res.error || res.status !== 0 || !sdkRoot) {
    const why = res.error ? res.error.message : (res.stderr ?? "").trim().split("\n").pop();
    throw new StackSetupError(
      `\`gcloud info\` failed (${why || `exit ${res.status}`}); check the Google Cloud CLI install`,
    );
  }
  const firestoreJar = path.join(
    sdkRoot,
    "platform",
    "cloud-firestore-emulator",
    "cloud-firestore-emulator.jar",
  );
  const pubsubBinary = path.join(sdkRoot, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator");
  const missing: string[] = [];
  if (!fs.existsSync(firestoreJar)) missing.push(`the Firestore emulator (${firestoreJar})`);
  if (!fs.existsSync(pubsubBinary)) missing.push(`the Pub/Sub emulator (${pubsubBinary})`);
  if (missing.length > 0) {
    throw new StackSetupError(
      `The Google Cloud CLI at ${sdkRoot} lacks ${missing.join(" and ")}; ${INSTALL_EMULATORS_HINT}`,
    );
  }
  return { sdkRoot, firestoreJar, pubsubBinary };
}

// ---------------------------------------------------------------------------------------------
// Firestore wrapper jar

/** Manifest text with lines wrapped at 72 bytes as the JAR spec requires. */
function manifestText(attrs: Record<string, string>): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(attrs)) {
    let line = `${key}: ${value}`;
    lines.push(line.slice(0, 72));
    line = line.slice(72);
    while (line.length > 0) {
      lines.push(` ${line.slice(0, 71)}`);
      line = line.slice(71);
    }
  }
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** Writes a zip (stored, no compression) with the given { name: Buffer } entries. */
export function writeStoredZip(file: string, entries: Record<string, Buffer>): void {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const dosTime = 0; // 00:00:00
  const dosDate = (1 << 5) | 1; // 1980-01-01
  for (const [name, data] of Object.entries(entries)) {
    const nameBuf = Buffer.from(name, "utf8");
    const crc = zlib.crc32(data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(10, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // flags: UTF-8 names
    local.writeUInt16LE(0, 8); // method: stored
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, nameBuf, data);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // version made by
    central.writeUInt16LE(10, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + data.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length / 2, 8);
  end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  fs.writeFileSync(file, Buffer.concat([...locals, ...centrals, end]));
}

/**
 * Path of a wrapper jar under cacheDir whose manifest runs the Cloud CLI's Firestore emulator
 * jar (`java -jar wrapper.jar`). Regenerated only when missing or when the target jar changed.
 */
export function ensureFirestoreWrapperJar(
  cacheDir: string,
  firestoreJar: string,
  javaBin: string | null,
  { forceZipWriter = false } = {},
): string {
  fs.mkdirSync(cacheDir, { recursive: true });
  const jarPath = path.join(cacheDir, "cloud-firestore-emulator-wrapper.jar");
  const stampPath = `${jarPath}.target`;
  const target = path.resolve(firestoreJar);
  if (fs.existsSync(jarPath) && fs.existsSync(stampPath) && fs.readFileSync(stampPath, "utf8") === target) {
    return jarPath;
  }
  const manifest = manifestText({
    "Manifest-Version": "1.0",
    "Main-Class": FIRESTORE_MAIN_CLASS,
    "Class-Path": pathToFileURL(target).href,
    "Created-By": "scripts/lib/stack.ts",
  });
  // Build into a temp file and rename, so concurrent stacks never see a half-written jar.
  const tmpJar = path.join(cacheDir, `.wrapper-${process.pid}-${Date.now()}.jar`);
  const jarTool = javaBin ? path.join(path.dirname(fs.realpathSync(javaBin)), "jar") : null;
  let built = false;
  if (!forceZipWriter && jarTool && fs.existsSync(jarTool)) {
    const mfPath = `${tmpJar}.MF`;
    // The jar tool adds its own Manifest-Version/Created-By.
    fs.writeFileSync(
      mfPath,
      manifestText({ "Main-Class": FIRESTORE_MAIN_CLASS, "Class-Path": pathToFileURL(target).href }),
    );
    const res = spawnSync(jarTool, ["--create", "--file", tmpJar, "--manifest", mfPath], {
      encoding: "utf8",
    });
    fs.rmSync(mfPath, { force: true });
    built = res.status === 0 && fs.existsSync(tmpJar);
  }
  if (!built) {
    writeStoredZip(tmpJar, {
      "META-INF/": Buffer.alloc(0),
      "META-INF/MANIFEST.MF": Buffer.from(manifest, "utf8"),
    });
  }
  fs.renameSync(tmpJar, jarPath);
  fs.writeFileSync(stampPath, target);
  return jarPath;
}

/**
 * firebase-tools chmods the *_EMULATOR_BINARY_PATH file to 0755, which fails (EPERM) when we do
 * not own it, e.g. a root-owned Cloud CLI install run by a normal user. Then point it at a tiny
 * shell script of ours that execs the real binary.
 */
function ownedPubsubBinary(cacheDir: string, pubsubBinary: string): string {
  const st = fs.statSync(pubsubBinary);
  if (typeof process.getuid !== "function" || process.getuid() === 0 || st.uid === process.getuid()) {
    return pubsubBinary;
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  const wrapper = path.join(cacheDir, "cloud-pubsub-emulator");
  const text = `#!/bin/sh\nexec '${pubsubBinary.replaceAll("'", "'\\''")}' "$@"\n`;
  if (!fs.existsSync(wrapper) || fs.readFileSync(wrapper, "utf8") !== text) {
    fs.writeFileSync(wrapper, text, { mode: 0o755 });
  }
  return wrapper;
}

// ---------------------------------------------------------------------------------------------
// Stack config

const PORT_KEYS = [
  "auth",
  "firestore",
  "functions",
  "pubsub",
  "hosting",
  "hub",
  "logging",
  "eventarc",
  "tasks",
  "ui",
];

/**
 * Reads firebase.json, shifts every emulator port by portOffset (a multiple of 10) and, for a
 * stack other than the default one, writes the result to <repo>/.firebase.<name>.json
 * (firebase-tools uses the config file's directory as the project directory, so it must sit in
 * the repo root). Returns { name, portOffset, configPath, ports, projectId }.
 */
/** Ports the WHATWG fetch standard blocks (Node's fetch answers "bad port"), from 1024 up. */
const FETCH_BLOCKED_PORTS = new Set([
  1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697,
  10080,
]);

/** The part of firebase.json that is read and shifted here. */
interface EmulatorsConfig {
  [key: string]: { port?: number; host?: string; websocketPort?: number } | undefined;
}

export function stackConfig({
  name = "default",
  portOffset = 0,
}: { name?: string; portOffset?: number | string } = {}): Stack {
  if (!/^[a-z][a-z0-9-]{0,10}$/.test(name)) {
    throw new StackSetupError(
      `Stack name "${name}" is invalid: use 1-11 lowercase letters, digits or hyphens, starting with a letter (it becomes part of the project id)`,
    );
  }
  const offset = Number(portOffset);
  if (!Number.isInteger(offset) || offset % 10 !== 0) {
    throw new StackSetupError(
      `Port offset "${portOffset}" is invalid: it must be a whole multiple of 10 (e.g. 0, 10, 20)`,
    );
  }
  const basePath = path.join(repoRoot, "firebase.json");
  const config = JSON.parse(fs.readFileSync(basePath, "utf8")) as { emulators?: EmulatorsConfig };
  const emulators: EmulatorsConfig = config.emulators ?? {};
  const ports: Record<string, number> = {};
  const shift = (label: string, port: number) => {
    const shifted = port + offset;
    if (shifted < 1024 || shifted > 65535) {
      throw new StackSetupError(
        `Port offset ${offset} moves the ${label} port ${port} out of range (${shifted})`,
      );
    }
    if (FETCH_BLOCKED_PORTS.has(shifted)) {
      throw new StackSetupError(
        `Port offset ${offset} moves the ${label} port to ${shifted}, which fetch() refuses to call ("bad port"); pick another offset`,
      );
    }
    return shifted;
  };
  for (const key of PORT_KEYS) {
    const e = emulators[key];
    if (e && typeof e.port === "number") {
      e.port = shift(key, e.port);
      ports[key] = e.port;
    }
  }
  const firestore = emulators.firestore;
  if (firestore && typeof firestore.websocketPort === "number") {
    firestore.websocketPort = shift("firestore websocket", firestore.websocketPort);
    ports.firestoreWebsocket = firestore.websocketPort;
  }
  for (const key of EMULATORS) {
    if (!ports[key]) throw new StackSetupError(`firebase.json has no emulators.${key}.port`);
  }
  if (!ports.hub) throw new StackSetupError("firebase.json has no emulators.hub.port");

  const isDefault = name === "default" && offset === 0;
  let configPath = basePath;
  if (!isDefault) {
    configPath = path.join(repoRoot, `.firebase.${name}.json`);
    const text = `${JSON.stringify(config, null, 2)}\n`;
    if (!fs.existsSync(configPath) || fs.readFileSync(configPath, "utf8") !== text) {
      const tmp = `${configPath}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, configPath);
    }
  }
  const projectId = name === "default" ? BASE_PROJECT_ID : `${BASE_PROJECT_ID}-${name}`;
  const hosts: Record<string, string> = {};
  for (const key of Object.keys(ports)) {
    const e = emulators[key === "firestoreWebsocket" ? "firestore" : key];
    hosts[key] = e?.host ?? "127.0.0.1";
  }
  // Checked above: every emulator and the hub have a port.
  return { name, portOffset: offset, configPath, ports: ports as StackPorts, hosts, projectId };
}

/**
 * Checks Java, the Cloud CLI emulators and builds the Firestore wrapper jar. Returns the stack
 * from stackConfig() plus { java, javaHome, firestoreJar, pubsubBinary, firestoreWrapperJar }.
 * Throws StackSetupError (one line) when something is missing.
 */
export function prepareStack({
  name = "default",
  portOffset = 0,
}: { name?: string; portOffset?: number | string } = {}): Stack & {
  java: string;
  javaHome: string;
  firestoreJar: string;
  pubsubBinary: string;
  firestoreWrapperJar: string;
} {
  const stack = stackConfig({ name, portOffset });
  const java = findJava();
  const { firestoreJar, pubsubBinary } = findGcloudEmulators();
  const firestoreWrapperJar = ensureFirestoreWrapperJar(stackDir, firestoreJar, java);
  return {
    ...stack,
    java,
    javaHome: javaHomeOf(java),
    firestoreJar,
    pubsubBinary: ownedPubsubBinary(stackDir, pubsubBinary),
    firestoreWrapperJar,
  };
}

/** URLs of a stack. */
export function stackUrls(stack: Pick<Stack, "ports" | "projectId"> & { hosts?: Record<string, string> }) {
  const { ports, projectId } = stack;
  const h = (key: string) => `${stack.hosts?.[key] ?? "127.0.0.1"}`;
  return {
    api: `http://${h("functions")}:${ports.functions}/${projectId}/us-central1/api`,
    hosting: `http://${h("hosting")}:${ports.hosting}`,
    hostingApi: `http://${h("hosting")}:${ports.hosting}/api/orchestration`,
    hub: `http://${h("hub")}:${ports.hub}`,
  };
}

/**
 * Environment for running firebase-tools and client code against the stack: PATH with the
 * chosen Java (firebase-tools spawns plain `java`) and node_modules/.bin first, the emulator
 * binary overrides, the emulator hosts and the ORCH_* URLs.
 */
export function stackEnv(stack: Stack, baseEnv: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const urls = stackUrls(stack);
  const { ports } = stack;
  const pathParts: string[] = [];
  if (stack.java) pathParts.push(path.dirname(stack.java));
  pathParts.push(path.join(repoRoot, "node_modules", ".bin"), path.dirname(process.execPath));
  if (baseEnv.PATH) pathParts.push(baseEnv.PATH);
  const env: NodeJS.ProcessEnv = {
    ...baseEnv,
    PATH: pathParts.join(path.delimiter),
    FIRESTORE_EMULATOR_HOST: `${stack.hosts?.firestore ?? "127.0.0.1"}:${ports.firestore}`,
    PUBSUB_EMULATOR_HOST: `${stack.hosts?.pubsub ?? "127.0.0.1"}:${ports.pubsub}`,
    FIREBASE_AUTH_EMULATOR_HOST: `${stack.hosts?.auth ?? "127.0.0.1"}:${ports.auth}`,
    GCLOUD_PROJECT: stack.projectId,
    GOOGLE_CLOUD_PROJECT: stack.projectId,
    ORCH_STACK: stack.name,
    ORCH_PROJECT_ID: stack.projectId,
    ORCH_API_URL: urls.api,
    ORCH_HOSTING_URL: urls.hosting,
    ORCH_HUB_URL: urls.hub,
    ORCH_WAREHOUSE_URL: `http://127.0.0.1:${WAREHOUSE_BASE_PORT + (stack.portOffset ?? 0)}`,
    // No metadata server exists on a local stack: without this, google-auth-library probes for one
    // and prints a MetadataLookupWarning with a stack trace (gcp-metadata documents the variable).
    METADATA_SERVER_DETECTION: baseEnv.METADATA_SERVER_DETECTION ?? "none",
    // The Functions emulator gives a worker 10 s to load the functions; on two busy cores a cold
    // worker can take longer (seen here), and the emulator then fails the invocation.
    FUNCTIONS_DISCOVERY_TIMEOUT: baseEnv.FUNCTIONS_DISCOVERY_TIMEOUT ?? "60",
  };
  if (stack.java) {
    // The Cloud CLI's Pub/Sub emulator script prefers $JAVA_HOME/bin/java over PATH.
    env.JAVA_HOME = stack.javaHome ?? javaHomeOf(stack.java);
  }
  if (stack.firestoreWrapperJar) env.FIRESTORE_EMULATOR_BINARY_PATH = stack.firestoreWrapperJar;
  if (stack.pubsubBinary) env.PUBSUB_EMULATOR_BINARY_PATH = stack.pubsubBinary;
  return env;
}

// ---------------------------------------------------------------------------------------------
// Processes

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** [node, firebase.js]: firebase-tools always runs under the Node that runs this script. */
export function firebaseBin(): [string, string] {
  return [
    process.execPath,
    path.join(repoRoot, "node_modules", "firebase-tools", "lib", "bin", "firebase.js"),
  ];
}

/**
 * Holds <repo>/.stack/build.lock while fn runs, so stacks started side by side do not run tsc
 * into functions/lib at the same time. A lock left by a dead process is taken over.
 */
async function withBuildLock<T>(
  fn: () => Promise<T>,
  { timeoutMs = 300_000, log = console.log }: { timeoutMs?: number; log?: (line: string) => void } = {},
): Promise<T> {
  fs.mkdirSync(stackDir, { recursive: true });
  const lock = path.join(stackDir, "build.lock");
  const deadline = Date.now() + timeoutMs;
  let said = false;
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(fs.readFileSync(lock, "utf8")) || 0;
      let alive = false;
      try {
        alive = holder > 0 && process.kill(holder, 0);
      } catch {
        alive = false;
      }
      if (!alive) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new StackSetupError(`Timed out waiting for the functions build of process ${holder} (${lock})`);
      if (!said) log(`Waiting for the functions build of process ${holder} to finish...`);
      said = true;
      await delay(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/**
 * Runs `npm --workspace functions run build` (tsc), streaming its output, then bundles the
 * dashboard; throws on failure.
 * ORCH_SKIP_BUILD=1 skips it (the functions emulator then loads whatever functions/lib holds).
 */
export function buildFunctions({
  env = process.env,
  output = "inherit",
  log = console.log,
}: {
  env?: NodeJS.ProcessEnv;
  /** "inherit", or a file descriptor the compiler's output goes to. */
  output?: "inherit" | number;
  log?: (line: string) => void;
} = {}): Promise<void> {
  if (env.ORCH_SKIP_BUILD === "1") {
    log("ORCH_SKIP_BUILD=1: not building the functions");
    return Promise.resolve();
  }
  const build = () =>
    new Promise<void>((resolve, reject) => {
      const npm = which("npm", env.PATH) ?? "npm";
      const child = spawn(npm, ["--workspace", "functions", "run", "build"], {
        cwd: repoRoot,
        stdio: output === "inherit" ? "inherit" : ["ignore", output, output],
        env,
      });
      child.on("error", (err) =>
        reject(new StackSetupError(`Could not run npm to build the functions: ${err.message}`)),
      );
      child.on("exit", (code, signal) => {
        if (code === 0) resolve();
        else
          reject(
            new StackSetupError(
              `Building the functions failed (\`npm --workspace functions run build\` ${signal ? `killed by ${signal}` : `exited with ${code}`}); see the compiler output ${output === "inherit" ? "above" : "in the stack log"}`,
            ),
          );
      });
    });
  // The dashboard bundle is built with the functions: Hosting serves it from dashboard/public.
  const buildBoth = async () => {
    await build();
    const { buildDashboard } = await import("../build-dashboard.js");
    await buildDashboard().catch((err: unknown) => {
      throw new StackSetupError(`Building the dashboard failed: ${(err as Error).message}`);
    });
  };
  return withBuildLock(buildBoth, { log });
}

function portBusy(host: string, port: number): Promise<string | false> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", (err: NodeJS.ErrnoException) =>
      resolve(err.code === "EADDRINUSE" || err.code === "EACCES" ? err.code : false),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

/**
 * Throws a StackSetupError naming the first busy port of the stack. Accepts a stack (uses its
 * ports and hosts) or a plain { label: port } map.
 */
export async function portsFree(stackOrPorts: Stack | Record<string, number>): Promise<void> {
  const stack =
    "ports" in stackOrPorts && typeof stackOrPorts.ports === "object" ? (stackOrPorts as Stack) : null;
  const ports: Record<string, number> = stack ? stack.ports : (stackOrPorts as Record<string, number>);
  const hosts = stack?.hosts ?? {};
  for (const [label, port] of Object.entries(ports)) {
    const host = hosts[label] ?? "127.0.0.1";
    const busy = await portBusy(host, port);
    if (busy) {
      const offset = stack?.portOffset ?? 0;
      throw new StackSetupError(
        `Port ${port} (${label}) on ${host} is ${busy === "EACCES" ? "not allowed" : "already in use"}` +
          ` (another emulator stack running?); stop it or shift the stack's ports, e.g. ORCH_PORT_OFFSET=${offset + 100} (with-stack: --offset ${offset + 100})`,
      );
    }
  }
}

async function fetchWithTimeout(url: string, ms: number, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
}

/** The emulators the hub lists: { name: { host, port, ... } }, or null if the hub is not up. */
/** What the emulator hub lists for one emulator. */
export type ListedEmulators = Record<string, { host: string; port: number } | undefined>;

export async function hubEmulators(hubUrl: string): Promise<ListedEmulators | null> {
  try {
    const res = await fetchWithTimeout(`${hubUrl}/emulators`, 2000);
    if (!res.ok) return null;
    return (await res.json()) as ListedEmulators;
  } catch {
    return null;
  }
}

/** One line naming the emulators the hub lists, e.g. "auth 127.0.0.1:9099, firestore ...". */
export function describeEmulators(
  listed: ListedEmulators | null,
  names: readonly string[] = EMULATORS,
): string {
  return names
    .flatMap((n) => {
      const emulator = listed?.[n];
      return emulator ? [`${n} ${emulator.host}:${emulator.port}`] : [];
    })
    .join(", ");
}

/**
 * Polls the hub until auth, firestore, functions, pubsub and hosting are listed and the api
 * function answers with an HTTP response. Options:
 * - timeoutMs: give up after this long (default 180 s).
 * - isAlive(): return false when the emulator process died, to stop waiting early.
 * - isReady(): true once firebase-tools said "All emulators ready" (triggers are loaded then);
 *   a "Function ... does not exist" 404 after that means the api function is not defined.
 * - apiGraceMs: without isReady, how long a "does not exist" 404 may persist after the hub is
 *   complete before concluding the api function is not defined (default 20 s).
 * Resolves { emulators, api: { ok, status, detail } }.
 */
export async function waitForStack(
  stack: Stack,
  {
    timeoutMs = 180_000,
    intervalMs = 250,
    isAlive,
    isReady,
    apiGraceMs = 20_000,
  }: {
    timeoutMs?: number;
    intervalMs?: number;
    isAlive?: () => boolean;
    isReady?: () => boolean;
    apiGraceMs?: number;
  } = {},
): Promise<{ emulators: ListedEmulators | null; api: { ok: boolean; status: number; detail: string } }> {
  const urls = stackUrls(stack);
  const deadline = Date.now() + timeoutMs;
  const healthUrl = `${urls.api}/api/orchestration/health`;
  let listed: ListedEmulators | null = null;
  let hubCompleteAt: number | null = null;
  let lastApi = "no answer yet";
  while (Date.now() < deadline) {
    if (isAlive && !isAlive())
      throw new StackSetupError(
        "firebase-tools exited before the emulators were ready; see its output above",
      );
    if (!hubCompleteAt) {
      listed = await hubEmulators(urls.hub);
      const now = listed;
      if (now && EMULATORS.every((n) => now[n])) hubCompleteAt = Date.now();
    }
    if (hubCompleteAt) {
      try {
        const res = await fetchWithTimeout(healthUrl, 10_000);
        const body = await res.text();
        const missing = res.status === 404 && /does not exist/.test(body);
        if (!missing)
          return { emulators: listed, api: { ok: true, status: res.status, detail: body.slice(0, 500) } };
        lastApi = body.trim().slice(0, 300);
        const settled = isReady ? isReady() : Date.now() - hubCompleteAt > apiGraceMs;
        if (settled) return { emulators: listed, api: { ok: false, status: res.status, detail: lastApi } };
      } catch (err) {
        const error = err as Error & { cause?: { code?: string } };
        lastApi = error.cause?.code ?? error.message;
      }
    }
    await delay(intervalMs);
  }
  const missingEmus = EMULATORS.filter((n) => !listed?.[n]);
  throw new StackSetupError(
    `The emulator stack was not ready after ${Math.round(timeoutMs / 1000)} s (` +
      (missingEmus.length ? `not up: ${missingEmus.join(", ")}` : `api function: ${lastApi}`) +
      ")",
  );
}

/**
 * Working directory for firebase-tools of a stack: <repo>/.stack/<name>. The Firestore and
 * Pub/Sub emulators write firestore-debug.log / pubsub-debug.log into firebase-tools' cwd, so
 * each stack gets its own to keep side-by-side stacks from writing the same log files. The
 * project directory still is the repo root, because --config points there.
 */
export function stackWorkDir(stack: Pick<Stack, "name">): string {
  const dir = path.join(stackDir, stack.name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Args for `firebase emulators:start|exec` of a stack. */
export function firebaseArgs(
  stack: Pick<Stack, "projectId" | "configPath">,
  command: string,
  extra: readonly string[] = [],
): string[] {
  return [
    command,
    "--project",
    stack.projectId,
    "--config",
    stack.configPath,
    "--only",
    EMULATORS.join(","),
    ...extra,
  ];
}

/** Prints a StackSetupError as its one line, anything else with its stack trace. */
export function reportError(err: unknown, prefix = ""): void {
  if (err instanceof StackSetupError) console.error(`${prefix}${err.message}`);
  else console.error(prefix, err);
}

// ---------------------------------------------------------------------------------------------
// The local warehouse (DuckDB, standing in for BigQuery)

/** The local warehouse's port before the stack's offset. */
export const WAREHOUSE_BASE_PORT = 9350;

/**
 * Starts the local warehouse process (the one DuckDB writer) for a running stack: it subscribes to
 * orchestration-events on the stack's Pub/Sub emulator and answers on env.ORCH_WAREHOUSE_URL.
 * `fresh` deletes the stack's warehouse file first. Resolves once it answers; `stop()` ends it.
 */
export interface LocalWarehouse {
  db: string;
  url: string;
  pid: number | undefined;
  stop: () => Promise<void>;
}

export async function startWarehouse({
  env,
  stackName,
  fresh = false,
}: {
  env: NodeJS.ProcessEnv;
  stackName: string;
  fresh?: boolean;
}): Promise<LocalWarehouse> {
  const dir = path.join(stackDir, stackName);
  fs.mkdirSync(dir, { recursive: true });
  const db = path.join(dir, "warehouse.duckdb");
  if (fresh) for (const f of [db, `${db}.wal`]) fs.rmSync(f, { force: true });
  const url = env.ORCH_WAREHOUSE_URL;
  if (!url)
    throw new StackSetupError("ORCH_WAREHOUSE_URL is not set: start the warehouse with the stack's env");
  const port = new URL(url).port;
  const script = path.join(functionsDir, "lib", "warehouse", "local-server.js");
  const out = fs.openSync(path.join(dir, "warehouse.out.log"), "a");
  const child = spawn(process.execPath, [script, "--db", db, "--port", port], {
    env,
    stdio: ["ignore", out, out],
  });
  let exited = false;
  child.on("exit", () => (exited = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited)
      throw new StackSetupError(
        `the local warehouse exited at start; see ${path.join(dir, "warehouse.out.log")}`,
      );
    try {
      const res = await fetch(`${url}/status`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new StackSetupError(`the local warehouse did not answer on ${url} within 60 s`);
    await delay(200);
  }
  return {
    db,
    url,
    pid: child.pid,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
