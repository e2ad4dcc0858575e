import fs from "node:fs";
import { openDuckDbWarehouse } from "./functions/src/warehouse/duckdb.js";
import { loadWarehouseFacts } from "./functions/src/warehouse/report.js";
import { syntheticHistorySql } from "./bench/warehouse-history.js";
const days = Number(process.argv[2] ?? 3);
fs.rmSync("/tmp/whbench.duckdb", { force: true }); fs.rmSync("/tmp/whbench.duckdb.wal", { force: true });
const wh = await openDuckDbWarehouse("/tmp/whbench.duckdb");
const end = new Date("2026-12-01T00:00:00Z");
let t = performance.now();
await wh.exec(syntheticHistorySql(end, days, 1_000_000));
console.log("load", days, "days", Math.round(performance.now() - t), "ms", await wh.count(), "rss", Math.round(process.memoryUsage().rss/1e6));
for (let i = 0; i < 2; i++) {
  t = performance.now();
  const facts = await loadWarehouseFacts(wh, { from: new Date(end.getTime() - days * 86400000), to: end }, null);
  console.log("facts", Math.round(performance.now() - t), "ms", facts.deployment_outcomes.length, JSON.stringify(facts.task_durations[0]));
}
wh.close();
