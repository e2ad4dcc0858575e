export const CHROMIUM_ARGS: string[];
export function ensureChromium(options?: {
  log?: (message: string) => void;
}): { path: string; reason?: undefined } | { reason: string; path?: undefined };
