/**
 * The demo's story: numbered steps with a few lines each on the terminal, everything else (the
 * demo's own detail lines, anything its modules print with console.log) in the stack's log file,
 * and a closing line with every step's time. scripts/with-stack.ts names the log file in
 * ORCH_STACK_LOG; ORCH_VERBOSE=1 shows the details live as well.
 */
import { appendFileSync } from "node:fs";
import { format } from "node:util";

export interface StepTiming {
  number: number;
  title: string;
  ms: number;
}

export interface Story {
  /** Starts the next numbered step (a leading "7." or "10b." in the title is dropped). */
  step: (title: string) => void;
  /** A line of the story, shown indented under the current step. */
  say: (line: string) => void;
  /** A line for the log only (live with ORCH_VERBOSE=1). */
  detail: (line: string) => void;
  /** Ends the current step and answers every step's time. */
  timings: () => StepTiming[];
}

export interface StoryOptions {
  write?: (text: string) => void;
  logFile?: string;
  verbose?: boolean;
  now?: () => number;
}

export function createStory({
  write = (text) => process.stdout.write(text),
  logFile,
  verbose = false,
  now = Date.now,
}: StoryOptions = {}): Story {
  const toLog = (text: string) => {
    if (logFile) appendFileSync(logFile, text);
  };
  const steps: StepTiming[] = [];
  let startedAt = now();
  const closeStep = () => {
    const current = steps.at(-1);
    if (current && current.ms < 0) current.ms = now() - startedAt;
  };
  return {
    step: (title) => {
      closeStep();
      const number = steps.length + 1;
      const bare = title.replace(/^\d+[a-z]?\.\s*/, "");
      steps.push({ number, title: bare, ms: -1 });
      startedAt = now();
      // What the story writes reaches the log by itself: with-stack copies the command's output there.
      write(`\n${number}. ${bare}\n`);
    },
    say: (line) => {
      write(`   ${line}\n`);
    },
    detail: (line) => {
      toLog(`   | ${line}\n`);
      if (verbose || !logFile) write(`   | ${line}\n`);
    },
    timings: () => {
      closeStep();
      return steps.map((s) => ({ ...s }));
    },
  };
}

/** Sends console.log and console.info of this process to the story's details. */
export function consoleToDetails(story: Story): void {
  const toDetail = (...args: unknown[]) => {
    for (const line of format(...args).split("\n")) if (line.trim() !== "") story.detail(line);
  };
  console.log = toDetail;
  console.info = toDetail;
}

/** "1 load 0.4 s · 2 environments 0.1 s ...", wrapped at `width` columns. */
export function timingLines(timings: StepTiming[], width = 100, shortTitle = firstWords): string[] {
  const parts = timings.map((t) => `${t.number} ${shortTitle(t.title)} ${(t.ms / 1000).toFixed(1)} s`);
  const lines: string[] = [];
  let line = "";
  for (const part of parts) {
    const next = line === "" ? part : `${line} · ${part}`;
    if (next.length > width && line !== "") {
      lines.push(line);
      line = part;
    } else line = next;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** The title's first word, lower-cased: "Deploy all ten integrations" -> "deploy". */
function firstWords(title: string): string {
  return (title.split(/[\s:,(]/)[0] ?? title).toLowerCase();
}
