export const CHROMIUM_ARGS: string[];
export function chromiumEnv(found: {
  path?: string;
  reason?: string;
}): { ORCH_CHROMIUM: string } | { ORCH_CHROMIUM_MISSING: string };
export function ensureChromium(options?: {
  log?: (message: string) => void;
}): { path: string; reason?: undefined } | { reason: string; path?: undefined };
