/** Reads the environment sources (rules, sites, function code) that a config names, from a directory. */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { SourceReader } from "./types.js";

/** A reader rooted at a directory; paths that escape it are refused as missing. */
export function directorySourceReader(rootDir: string): SourceReader {
  const root = path.resolve(rootDir);
  const resolve = (relative: string) => {
    const full = path.resolve(root, relative);
    return full === root || full.startsWith(`${root}${path.sep}`) ? full : undefined;
  };
  return {
    async readText(relative) {
      return (await this.readBytes(relative))?.toString("utf8");
    },
    async readBytes(relative) {
      const full = resolve(relative);
      if (!full) return undefined;
      try {
        return await readFile(full);
      } catch {
        return undefined;
      }
    },
    async listFiles(relativeDir) {
      const full = resolve(relativeDir);
      if (!full) return [];
      try {
        const entries = await readdir(full, { recursive: true, withFileTypes: true });
        return entries
          .filter((entry) => entry.isFile())
          .map((entry) => path.relative(full, path.join(entry.parentPath, entry.name)))
          .sort();
      } catch {
        return [];
      }
    },
  };
}
