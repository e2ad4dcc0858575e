/**
 * The local warehouse process, standing in for BigQuery: the one writer of the DuckDB file. It
 * pulls `orchestration-events` through its own subscription, inserts in batches (an event
 * delivered twice lands once), acknowledges only what is committed, purges past retention every
 * hour, and answers the functions' queries over loopback HTTP.
 *
 *   node functions/lib/warehouse/local-server.js --db .stack/<name>/warehouse.duckdb --port 9350
 */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";
import { Duration, PubSub, type Message } from "@google-cloud/pubsub";
import { TOPICS } from "../bus.js";
import { openDuckDbWarehouse, type DuckDbWarehouse } from "./duckdb.js";
import { QUERIES, personErasureSchema, personMatchSchema, type QueryName } from "./queries.js";
import { eventToRow, parseEventMessage, type EventRow } from "./schema.js";

/** The warehouse's subscription on the event topic. */
export const WAREHOUSE_SUBSCRIPTION = "orchestration-events-warehouse";

/** Rows per insert at most, and the longest a pulled event waits for its batch. */
const BATCH_ROWS = 5000;
const BATCH_WAIT_MS = 200;
const PURGE_EVERY_MS = 3600_000;

/** Pulls the topic into the warehouse in batches; `stop` drains what was pulled. */
export async function startIngest(
  warehouse: DuckDbWarehouse,
  pubsub: PubSub,
  log: (line: string) => void,
): Promise<{
  stop(): Promise<void>;
  stats(): { received: number; inserted: number; rejected: number; uncommitted: number };
}> {
  const [topic] = await pubsub.topic(TOPICS.events).get({ autoCreate: true });
  const subscription = topic.subscription(WAREHOUSE_SUBSCRIPTION, {
    flowControl: { maxMessages: BATCH_ROWS * 4, allowExcessMessages: false },
    // The client starts at a 10 s deadline and learns from ack times; in a burst, events waiting
    // behind a few batch commits passed it and came again (a third of a million-event load
    // arrived twice). Duplicates land once either way; this spares the work.
    minAckDeadline: Duration.from({ seconds: 60 }),
  });
  const [exists] = await subscription.exists();
  if (!exists) await topic.createSubscription(WAREHOUSE_SUBSCRIPTION, { ackDeadlineSeconds: 60 });

  const stats = { received: 0, inserted: 0, rejected: 0 };
  /** Events received but not yet committed (waiting for their batch or being inserted). */
  let uncommitted = 0;
  let pending: { row: EventRow; message: Message }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return flushing;
    flushing = flushing.then(async () => {
      try {
        const { inserted } = await warehouse.insert(batch.map((b) => b.row));
        stats.inserted += inserted;
        for (const b of batch) b.message.ack();
        uncommitted -= batch.length;
      } catch (error) {
        // Not acknowledged: Pub/Sub delivers them again, and the primary key drops what did land.
        log(`insert of ${batch.length} events failed, they will be redelivered: ${(error as Error).message}`);
        for (const b of batch) b.message.nack();
        uncommitted -= batch.length;
      }
    });
    return flushing;
  };

  subscription.on("message", (message: Message) => {
    stats.received += 1;
    const parsed = parseEventMessage(message.data);
    if (!parsed.ok) {
      stats.rejected += 1;
      log(`rejected message ${message.id}: ${parsed.reason}`);
      message.ack();
      return;
    }
    pending.push({ row: eventToRow(parsed.event, new Date()), message });
    uncommitted += 1;
    if (pending.length >= BATCH_ROWS) void flush();
    else timer ??= setTimeout(() => void flush(), BATCH_WAIT_MS);
  });
  subscription.on("error", (error: Error) => log(`subscription error: ${error.message}`));

  return {
    async stop() {
      await subscription.close();
      await flush();
    },
    stats: () => ({ ...stats, uncommitted }),
  };
}

/** Reads a JSON body. */
async function body(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown);
}

/** The HTTP face of the local warehouse: POST /query, /search, /purge, /person/count, /person/erase; GET /status. */
export function createWarehouseServer(
  warehouse: DuckDbWarehouse,
  status: () => Record<string, unknown>,
): http.Server {
  return http.createServer((req, res) => {
    const answer = (code: number, payload: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(payload));
    };
    const run = async () => {
      if (req.method === "GET" && req.url === "/status")
        return answer(200, {
          rss_bytes: process.memoryUsage().rss,
          engine: "duckdb",
          stands_in_for: "BigQuery",
          events: await warehouse.count(),
          ...status(),
        });
      if (req.method !== "POST") return answer(405, { error: `${req.method} ${req.url} is not served` });
      const input = (await body(req)) as Record<string, unknown>;
      if (req.url === "/query") {
        const name = input.name as string;
        if (!(name in QUERIES))
          return answer(400, {
            error: `name: found ${JSON.stringify(name)}; allowed: ${Object.keys(QUERIES).join(", ")}`,
          });
        return answer(200, { rows: await warehouse.query(name as QueryName, input.params as never) });
      }
      if (req.url === "/search") return answer(200, { rows: await warehouse.search(input as never) });
      if (req.url === "/purge") return answer(200, await warehouse.purge(new Date(String(input.now))));
      if (req.url === "/person/count")
        return answer(200, { count: await warehouse.countPerson(personMatchSchema.parse(input)) });
      if (req.url === "/person/erase")
        return answer(200, await warehouse.erasePerson(personErasureSchema.parse(input)));
      return answer(404, { error: `${req.url} is not served` });
    };
    run().catch((error: Error) => answer(error.name === "ZodError" ? 400 : 500, { error: error.message }));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { db: { type: "string" }, port: { type: "string" }, log: { type: "string" } },
  });
  if (!values.db || !values.port)
    throw new Error("usage: local-server --db <file.duckdb> --port <port> [--log <file>]");
  fs.mkdirSync(path.dirname(values.db), { recursive: true });
  const logFile = values.log ?? `${values.db}.log`;
  const log = (line: string) => fs.appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
  const warehouse = await openDuckDbWarehouse(values.db);
  const ingest = await startIngest(warehouse, new PubSub({ projectId: process.env.GCLOUD_PROJECT }), log);
  const purge = async () => {
    const { deleted } = await warehouse.purge(new Date());
    if (deleted > 0) log(`retention purge deleted ${deleted} events`);
  };
  await purge();
  const purgeTimer = setInterval(
    () => void purge().catch((e: Error) => log(`purge failed: ${e.message}`)),
    PURGE_EVERY_MS,
  );
  const server = createWarehouseServer(warehouse, () => ingest.stats());
  server.listen(Number(values.port), "127.0.0.1", () =>
    console.log(
      `warehouse: DuckDB ${values.db} (standing in for BigQuery) on http://127.0.0.1:${values.port}`,
    ),
  );
  const shutdown = async () => {
    clearInterval(purgeTimer);
    server.close();
    await ingest.stop();
    warehouse.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
}

if (
  process.argv[1] &&
  path.resolve(process.argv[1]).replace(/\.ts$/, ".js") ===
    new URL(import.meta.url).pathname.replace(/\.ts$/, ".js")
) {
  main().catch((error: Error) => {
    console.error(`warehouse: ${error.message}`);
    process.exit(1);
  });
}
