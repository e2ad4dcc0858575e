/** The one-line summaries `npm test` prints (scripts/test.ts), and when a run counts as CI. */
import fs from "node:fs";

/** True under a CI service (they set CI=true), where missing tools fail the run instead of skipping. */
export function underCi(env: Record<string, string | undefined> = process.env): boolean {
  return Boolean(env.CI) && env.CI !== "false" && env.CI !== "0";
}

/** "12.3 s" under a minute, "4 min 05 s" above. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
}

/** "✓ lint  3.1 s" or "✗ unit tests  95.0 s  (3 failed)". */
export function stepLine({
  ok,
  title,
  seconds,
  detail = "",
}: {
  ok: boolean;
  title: string;
  seconds: number;
  detail?: string;
}): string {
  return `${ok ? "✓" : "✗"} ${title.padEnd(24)} ${formatSeconds(seconds).padStart(10)}${detail ? `  ${detail}` : ""}`;
}

/**
 * "lines 69.4%, branches 87.2%" from c8's json-summary file, or null when there is none (the
 * runner did not finish).
 */
/** The part of c8's json-summary that the line reads. */
interface CoverageSummary {
  total?: { lines?: { pct: number }; branches?: { pct: number } };
}

export function coverageLine(summaryFile: string): string | null {
  let summary: CoverageSummary;
  try {
    summary = JSON.parse(fs.readFileSync(summaryFile, "utf8")) as CoverageSummary;
  } catch {
    return null;
  }
  const total = summary.total;
  if (!total?.lines || !total?.branches) return null;
  return `lines ${total.lines.pct.toFixed(1)}%, branches ${total.branches.pct.toFixed(1)}% of functions/src`;
}
