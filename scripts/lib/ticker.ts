/**
 * The local stand-in for Cloud Scheduler: runs the control plane's own schedule catalog (GET
 * /api/orchestration/jobs: each job's cron and time zone) with croner, through the functions'
 * ticker (functions/src/engine/ticker.ts), and fires each tick at the `scheduledJob` HTTPS
 * function, which the Functions emulator really runs. No schedule is written here.
 */
import { realTimer } from "../../functions/src/engine/jobs.js";
import { startTicker, type Ticker, type TickerJob } from "../../functions/src/engine/ticker.js";

/** What the scheduledJob function answers about the runs a tick made. */
interface TickAnswer {
  runs?: { job: string; scheduled_for: string; outcome: string; summary: string }[];
  error?: { message?: string };
}

/**
 * Starts ticking the stack's catalog. `apiUrl` is the api function's URL (…/us-central1/api);
 * `token()` answers a fresh admin ID token (they expire after an hour). Answers the ticker.
 */
export async function startLocalTicker({
  apiUrl,
  token,
  log = console.log,
}: {
  apiUrl: string;
  token: () => Promise<string>;
  log?: (line: string) => void;
}): Promise<Ticker> {
  const jobUrl = apiUrl.replace(/\/api$/, "/scheduledJob");
  // At most two ticks in flight: each concurrent request makes the Functions emulator load the
  // functions into one more worker, and a burst (every job's catch-up at start) can starve them.
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  const limited = async <T>(work: () => Promise<T>): Promise<T> => {
    if (inFlight >= 2) await new Promise<void>((resolve) => waiting.push(resolve));
    inFlight += 1;
    try {
      return await work();
    } finally {
      inFlight -= 1;
      waiting.shift()?.();
    }
  };
  const post = (body: unknown) => limited(() => send(body));
  const send = async (body: unknown): Promise<TickAnswer> => {
    const response = await fetch(jobUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${await token()}` },
      body: JSON.stringify(body),
    });
    const answer = (await response.json().catch(() => ({}))) as TickAnswer;
    if (!response.ok)
      throw new Error(`${response.status}: ${answer.error?.message ?? JSON.stringify(answer)}`);
    return answer;
  };
  const jobs = async (): Promise<TickerJob[]> => {
    const response = await fetch(`${apiUrl}/api/orchestration/jobs?limit=1`, {
      headers: { Authorization: `Bearer ${await token()}` },
    });
    if (!response.ok) throw new Error(`GET /jobs answered ${response.status}`);
    return ((await response.json()) as { jobs: TickerJob[] }).jobs;
  };
  let ticker: Ticker | undefined = undefined;
  ticker = await startTicker({
    clock: { now: () => new Date() },
    timer: realTimer,
    jobs,
    fire: async (job, tick) => {
      const report = await post({ job, scheduled_for: tick.toISOString() });
      for (const run of report.runs ?? []) {
        if (run.outcome !== "succeeded")
          log(`scheduler: ${run.job} ${run.scheduled_for}: ${run.outcome}: ${run.summary}`);
      }
      // The catalog follows the config: pick up added, changed or removed jobs once a minute.
      if (job === "lease-sweeper") await ticker?.resync();
    },
    catchUp: async (job) => {
      const answer = await post({ job, catch_up: true });
      if (answer.runs?.length) log(`scheduler: ${job}: caught up ${answer.runs.length} missed tick(s)`);
    },
    onError: (job, error) => log(`scheduler: ${job} failed: ${(error as Error).message}`),
  });
  const listed = await jobs();
  log(
    `Scheduler: ${listed.length} jobs from the catalog (${listed.map((j) => `${j.name} "${j.cron}" ${j.time_zone}`).join(", ")})`,
  );
  return ticker;
}
