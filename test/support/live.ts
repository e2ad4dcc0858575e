/** Fixtures for the live drivers' contract tests: Google access pointed at contract servers, memory sources and releases. */
import {
  INTEGRATION_DEFAULTS,
  type IntegrationSettings,
  type ResolvedEnvironment,
} from "../../functions/src/domain/config-schema.js";
import type { IntegrationKind } from "../../functions/src/domain/integrations.js";
import { QuotaPacer } from "../../functions/src/domain/quota-pacing.js";
import type { GoogleAccess, GoogleApiName } from "../../functions/src/drivers/live/google.js";
import type { DriverIO, Release, ReleaseStore, SourceReader } from "../../functions/src/drivers/types.js";

/**
 * Access with a fixed bearer token (so no metadata server or key is asked for), every listed API at
 * its contract server, and a sleep that records the delays instead of waiting. Requests are paced as
 * live ones are, against a fake clock that each recorded sleep moves on: so a test sees the waits
 * pacing asks for in `slept`, and a test making fewer calls than any quota allows sees none. Pass
 * `pacer` to share one between accesses, or `false` for none.
 */
export async function contractAccess(
  rootUrls: Partial<Record<GoogleApiName, string>>,
  options: { maxAttempts?: number; random?: () => number; pacer?: QuotaPacer | false; startMs?: number } = {},
): Promise<GoogleAccess & { slept: number[]; clock: { ms: number } }> {
  const { auth } = await import("googleapis/build/src/apis/firebasehosting/index.js");
  const client = new auth.OAuth2();
  client.setCredentials({ access_token: "contract-test-token", expiry_date: Date.now() + 3_600_000 });
  const slept: number[] = [];
  const clock = { ms: options.startMs ?? Date.parse("2026-12-01T10:00:00.000Z") };
  const pacer = options.pacer ?? new QuotaPacer();
  return {
    rootUrls: Object.fromEntries(Object.entries(rootUrls).map(([api, url]) => [api, `${url}/`])),
    auth: () => Promise.resolve(client),
    sleep: (ms) => {
      slept.push(ms);
      clock.ms += ms;
      return Promise.resolve();
    },
    random: options.random ?? (() => 0.5),
    maxAttempts: options.maxAttempts ?? 4,
    ...(pacer ? { pacing: { pacer, now: () => clock.ms } } : {}),
    slept,
    clock,
  };
}

/** In-memory sources: path -> text; mutable, so a test can change a file between applies. */
export function memorySources(files: Record<string, string>): SourceReader {
  return {
    readText: (p) => Promise.resolve(files[p]),
    readBytes: (p) => Promise.resolve(files[p] === undefined ? undefined : Buffer.from(files[p])),
    listFiles: (dir) =>
      Promise.resolve(
        Object.keys(files)
          .filter((p) => p.startsWith(`${dir}/`))
          .map((p) => p.slice(dir.length + 1))
          .sort(),
      ),
  };
}

/** I/O of a live environment: real fetch (to the local contract server only), the given sources and access. */
export function liveIO(sources: SourceReader, google: GoogleAccess): DriverIO {
  return { sources, emulators: {}, fetch, now: () => new Date("2026-12-01T10:00:00.000Z"), google };
}

/** A live environment declaring the given kinds with their defaults bent by `settings`. */
export function liveEnvironment(
  kinds: IntegrationKind[],
  settings: { [K in IntegrationKind]?: Partial<IntegrationSettings<K>> } = {},
): ResolvedEnvironment {
  return {
    name: "prod",
    type: "production",
    project_id: "acme-prod",
    region: "us-central1",
    mode: "live",
    concurrency: 4,
    rollback_policy: "all",
    engine: {},
    integrations: kinds.map((kind) => ({
      kind,
      name: kind,
      settings: { ...INTEGRATION_DEFAULTS[kind], ...(settings[kind] ?? {}) },
    })) as ResolvedEnvironment["integrations"],
  };
}

/** Releases kept in memory, numbered per integration as the Firestore store numbers them. */
export function memoryReleases(): ReleaseStore & { all: Release[] } {
  const all: Release[] = [];
  const of = (environment: string, integration: string) =>
    all.filter((r) => r.environment === environment && r.integration === integration).reverse();
  return {
    all,
    latest: (e, i) => Promise.resolve(of(e, i)[0]),
    latestOf: (e, names) => Promise.resolve(new Map(names.map((i) => [i, of(e, i)[0]]))),
    previous: (e, i) => Promise.resolve(of(e, i)[1]),
    newest: (e, i, count) => Promise.resolve(of(e, i).slice(0, count)),
    get: (e, i, number) => Promise.resolve(of(e, i).find((r) => r.number === number)),
    record: (release) => {
      const stored = { ...release, number: of(release.environment, release.integration).length + 1 };
      all.push(stored);
      return Promise.resolve(stored);
    },
  };
}
