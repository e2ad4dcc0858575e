/**
 * The backtest of the learned estimates (`npm run backtest`): generates a seeded history
 * (test/sim/history-generator.ts: the truth is the generator's own table, independent of the
 * predictor), replays it in time order predicting each deployment from what had finished before it,
 * and prints the error of the learned estimates against the static catalog and the Brier score of
 * the failure probabilities against the base rate.
 *
 *   npm run backtest                              seed 1, 60 days, 8 deployments a day
 *   npm run backtest -- --seed 7 --days 90 --per-day 12 [--forecast-days 150] [--json out.json]
 *   npm run backtest -- --from-firestore          the history of the Firestore that GCLOUD_PROJECT
 *                                                 (and FIRESTORE_EMULATOR_HOST) name: a stack's or a project's
 *
 * Then the capacity forecast's error: a second seeded history of `--forecast-days` days (default
 * 150) whose daily volume has a known trend (+1 % of the base a day) and weekly shape (quiet
 * weekends), its daily deployments, events and Firestore reads forecast from every origin after 28
 * days, 7 and 30 days ahead, against last week's same day and the history's mean.
 *
 * Exits 1 when the goal (deployment duration MAE at least halved against the catalog) is missed.
 */
import { writeFileSync } from "node:fs";
import { mean } from "simple-statistics";
import {
  backtest,
  backtestCapacityForecast,
  dailyCounts,
  type BacktestReport,
} from "../functions/src/domain/learning/backtest.js";
import type { ForecastErrors } from "../functions/src/domain/learning/forecast.js";
import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { createEnvironmentResolver } from "../functions/src/engine/environments.js";
import { loadReplayHistory } from "../functions/src/store/replay-history.js";
import { createStore } from "../functions/src/store/store.js";
import { BACKTEST_VOLUME, generateHistory } from "../test/sim/history-generator.js";

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const raw = process.argv[index + 1];
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${name}: found "${raw}"; allowed: a number above 0`);
    process.exit(2);
  }
  return value;
}

const s = (value: number) => `${value.toFixed(1)} s`;
const line = (label: string, d: BacktestReport["task_duration"]) =>
  `${label} (${d.count}): MAE learned ${s(d.learned.mae)} vs catalog ${s(d.catalog.mae)} (${d.mae_ratio.toFixed(2)}x less); p90 error learned ${s(d.learned.p90_error)} vs catalog ${s(d.catalog.p90_error)}; actual <= learned p90 in ${d.learned.p90_coverage === null ? "n/a" : `${(d.learned.p90_coverage * 100).toFixed(1)}%`}`;
const brier = (label: string, f: BacktestReport["task_failure"]) =>
  `${label} (${f.count}, ${f.failures} failed): Brier learned ${f.brier_learned.toFixed(4)} vs base rate ${f.brier_base_rate.toFixed(4)}`;

/** Prints the duration and failure lines; answers whether the goal (error at least halved) is met. */
function printReport(report: BacktestReport): boolean {
  console.log(line("deployment duration", report.deployment_duration));
  console.log(line("task duration", report.task_duration));
  console.log(brier("task failure", report.task_failure));
  console.log(brier("deployment failure", report.deployment_failure));
  const met = report.deployment_duration.mae_ratio >= 2;
  console.log(
    `goal (deployment duration error at least halved against the catalog): ${met ? "met" : "NOT met"} (${report.deployment_duration.mae_ratio.toFixed(2)}x)`,
  );
  return met;
}

/** The history of the Firestore the environment names, replayed against its loaded config. */
async function firestoreBacktest(): Promise<void> {
  if (!process.env.GCLOUD_PROJECT) {
    console.error(
      "--from-firestore: GCLOUD_PROJECT is not set; allowed: the project whose Firestore holds the history",
    );
    process.exit(2);
  }
  if (getApps().length === 0) initializeApp({ projectId: process.env.GCLOUD_PROJECT });
  const db = getFirestore();
  const config = await createEnvironmentResolver(createStore(db)).config();
  const history = await loadReplayHistory(db, config.environments);
  const where = process.env.FIRESTORE_EMULATOR_HOST
    ? `the emulator at ${process.env.FIRESTORE_EMULATOR_HOST}`
    : "Firestore";
  console.log(
    `backtest: ${history.deployments.length} finished deployments of ${process.env.GCLOUD_PROJECT} (${where}); ${history.skipped.length} left out`,
  );
  for (const skipped of history.skipped.slice(0, 5))
    console.log(`  left out ${skipped.id}: ${skipped.reason}`);
  if (history.deployments.length < 2) {
    console.log("fewer than 2 finished deployments: nothing to replay");
    process.exitCode = 1;
    return;
  }
  process.exitCode = printReport(backtest(history.deployments, config.environments)) ? 0 : 1;
}

function seededBacktest(): void {
  const seed = option("seed", 1);
  const days = option("days", 60);
  const perDay = option("per-day", 8);
  const started = performance.now();
  const history = generateHistory({ seed, days, deploymentsPerDay: perDay });
  const report: BacktestReport = backtest(history.deployments, history.environments);
  const elapsed = performance.now() - started;

  console.log(
    `backtest: seed ${seed}, ${days} days, ${report.deployments} deployments, ${report.runs_learned_from} runs learned from by the end (${elapsed.toFixed(0)} ms)`,
  );
  console.log(line("deployment duration", report.deployment_duration));
  console.log(line("task duration", report.task_duration));
  const met = printReport(report);

  const forecastDays = option("forecast-days", 150);
  const forecastStarted = performance.now();
  const start = new Date(Date.UTC(2026, 9, 1));
  const shaped = generateHistory({
    seed,
    start,
    days: forecastDays,
    deploymentsPerDay: perDay,
    regimeShift: false,
    volume: BACKTEST_VOLUME,
  });
  const forecastReport = backtestCapacityForecast(
    shaped.deployments,
    new Date(start.getTime() + (forecastDays - 1) * 86_400_000).toISOString().slice(0, 10),
  );
  const e = (errors: ForecastErrors) =>
    `MAE ${errors.mae.toFixed(1)}, MAPE ${errors.mape === null ? "n/a" : `${(errors.mape * 100).toFixed(1)}%`}`;
  console.log(
    `capacity forecast: seed ${seed}, ${forecastDays} days, ${shaped.deployments.length} deployments (trend +${BACKTEST_VOLUME.trendPerDay * 100}% a day, weekends x0.3); rolling origin from day 28 (${(performance.now() - forecastStarted).toFixed(0)} ms)`,
  );
  for (const [metric, horizons] of Object.entries(forecastReport))
    for (const result of horizons)
      if (result)
        console.log(
          `  ${metric} a day, ${result.horizon} days ahead (${result.origins} origins): forecast ${e(result.forecast)}; last week's same day ${e(result.seasonal_naive)}; history mean ${e(result.history_mean)}`,
        );
  // The floor no forecaster beats: the generator's own mean of each day, against what it drew.
  {
    const drawn = dailyCounts(shaped.deployments).deployments.slice(28, forecastDays);
    const truth = drawn.map(({ date, value }) => {
      const day = (Date.parse(`${date}T00:00:00Z`) - start.getTime()) / 86_400_000;
      const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
      return {
        predicted: perDay * (1 + BACKTEST_VOLUME.trendPerDay * day) * BACKTEST_VOLUME.weekly[weekday]!,
        actual: value,
      };
    });
    const positive = truth.filter((pair) => pair.actual > 0);
    console.log(
      `  deployments a day, the generator's true mean as the forecast (days 29-${forecastDays}): ${e({
        mae: mean(truth.map((pair) => Math.abs(pair.predicted - pair.actual))),
        mape: mean(positive.map((pair) => Math.abs(pair.predicted - pair.actual) / pair.actual)),
      })}`,
    );
  }
  const jsonIndex = process.argv.indexOf("--json");
  if (jsonIndex >= 0 && process.argv[jsonIndex + 1]) {
    writeFileSync(
      process.argv[jsonIndex + 1]!,
      `${JSON.stringify({ seed, days, perDay, report, forecastDays, forecast: forecastReport }, null, 2)}\n`,
    );
  }
  process.exitCode = met ? 0 : 1;
}

if (process.argv.includes("--from-firestore")) await firestoreBacktest();
else seededBacktest();
