/**
 * What one task costs the engine: Firestore round trips, publishes and function invocations per
 * task, counted exactly by running the real engine steps in the simulation's memory Firestore with
 * no fault (every call the engine makes is an await point the simulation sees). Three shapes: the
 * ten integrations of an environment in their dependency order with concurrency 1, and the same ten
 * with concurrency 2 (`npm run bench`'s) and 10. The sweeper does not run in these (deployments end
 * before its first minute), so the figures are the hot path alone. The counts of an empty run (loading the config) are taken
 * off. Then the API's request path: the round trips of one POST /deploy alone, and of 100 at once
 * (concurrent requests share their reads of the config and the API key, and their audit commit).
 *
 *   npx tsx bench/hot-path.ts        (seconds; the JSON goes to out/bench/)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServices } from "../functions/src/app.js";
import { handleApiRequest } from "../functions/src/handlers/api.js";
import { asFirestore, MemoryFirestore } from "../test/sim/memory-firestore.js";
import { configWith } from "../test/support/config-builder.js";
import { ROUND_TRIP, sumOf, taskCosts } from "../test/support/task-costs.js";

const shapes = [
  { label: "10 tasks in dependency order, concurrency 1", concurrency: 1 },
  // npm run bench's limit an environment; its floor phase makes this many round trips a hop.
  { label: "10 tasks, concurrency 2", concurrency: 2 },
  { label: "10 tasks, concurrency 10", concurrency: 10 },
];
const rows = [];
for (const shape of shapes) {
  const row = { shape: shape.label, ...(await taskCosts(shape.concurrency)) };
  rows.push(row);
  console.log(`${row.shape}:`);
  console.log(
    `  Firestore round trips per task: ${row.round_trips_per_task} (${Object.entries(
      row.round_trips_by_kind_per_task,
    )
      .map(([kind, value]) => `${kind} ${value}`)
      .join(", ")})`,
  );
  console.log(
    `  and the audit chain writer's (once a second at most, shared by every task meanwhile): ${row.audit_chain_writer_round_trips_per_task} per task`,
  );
  console.log(`  publishes per task: ${row.publishes_per_task}`);
  console.log(
    `  function invocations per task: ${row.invocations_per_task} (${Object.entries(
      row.invocations_by_trigger_per_task,
    )
      .map(([trigger, value]) => `${trigger} ${value}`)
      .join(", ")})`,
  );
}
/** The API's request path: Firestore round trips of POST /deploy, one request alone and 100 at once. */
async function apiRoundTrips(concurrent: number): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  let counting = false;
  const db = new MemoryFirestore(
    {
      point: (label) => {
        if (counting && ROUND_TRIP.test(label))
          calls.set(label.split(" ")[0]!, (calls.get(label.split(" ")[0]!) ?? 0) + 1);
        return Promise.resolve();
      },
    },
    () => new Date(),
  );
  const quiet = () => undefined;
  const services = createServices({
    db: asFirestore(db),
    warehouse: null,
    bus: { publishTask: () => Promise.resolve(), publishEvent: () => Promise.resolve() },
    auditKey: () => Promise.resolve(new Uint8Array(32).fill(7)),
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  });
  const { key } = await services.access.createKey(
    { role: "admin", environments: null, label: "bench" },
    { kind: "user", uid: "bench", email: null, role: "admin", environments: null },
  );
  const call = (method: string, path: string, body: unknown) =>
    handleApiRequest(services, {
      method,
      path,
      query: {},
      body,
      headers: { "x-api-key": key },
      ip: "127.0.0.1",
    });
  await call(
    "POST",
    "/config",
    configWith(() => undefined),
  );
  const deploy = (i: number) =>
    call("POST", "/deploy", {
      environment: "dev",
      integrations: [["auth", "firestore", "hosting", "security"][i % 4]],
      configuration: { driver: "simulated" },
    });
  await deploy(0); // warms the key's last-used stamp, written at most once a minute
  counting = true;
  const answers = await Promise.all(Array.from({ length: concurrent }, (_, i) => deploy(i)));
  await new Promise((resolve) => setImmediate(resolve)); // the audit records' group commit
  if (answers.some((answer) => answer.status !== 202)) throw new Error("a POST /deploy was not accepted");
  return calls;
}

const api = [];
for (const concurrent of [1, 100]) {
  const calls = await apiRoundTrips(concurrent);
  const perRequest = Number((sumOf(calls) / concurrent).toFixed(2));
  api.push({ concurrent, round_trips_per_request: perRequest, by_kind: Object.fromEntries(calls) });
  console.log(
    `POST /deploy, ${concurrent} at once: ${perRequest} Firestore round trips a request (${[...calls].map(([kind, n]) => `${kind} ${n}`).join(", ")})`,
  );
}
mkdirSync("out/bench", { recursive: true });
const file = `out/bench/hot-path-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
writeFileSync(file, `${JSON.stringify({ measured_at: new Date().toISOString(), rows, api }, null, 2)}\n`);
console.log(`written: ${file}`);
