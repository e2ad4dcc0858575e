/** See test-summary.mjs. */
export function formatSeconds(seconds: number): string;
export function stepLine(step: { ok: boolean; title: string; seconds: number; detail?: string }): string;
export function coverageLine(summaryFile: string): string | null;
export function underCi(env?: Record<string, string | undefined>): boolean;
