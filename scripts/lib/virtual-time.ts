/** Virtual time for simulations: a clock and timers that fire only when the test advances time. */
import type { Timer } from "../../functions/src/engine/jobs.js";

type Pending = { at: number; seq: number; resolve: () => void; cancelled: boolean };

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A clock plus timers; `runUntil` fires every due timer in time order, letting continuations run between. */
export class VirtualTime {
  private current: number;
  private readonly pending: Pending[] = [];
  private seq = 0;

  /** Starts at `start`. */
  constructor(start: Date) {
    this.current = start.getTime();
  }

  /** The clock the code under test reads. */
  readonly clock = { now: (): Date => new Date(this.current) };

  /** The timer the code under test waits on. */
  readonly timer: Timer = (ms) => {
    const entry: Pending = {
      at: this.current + Math.max(0, ms),
      seq: this.seq++,
      resolve: () => undefined,
      cancelled: false,
    };
    const done = new Promise<void>((resolve) => {
      entry.resolve = resolve;
    });
    this.pending.push(entry);
    return {
      done,
      cancel: () => {
        entry.cancelled = true;
        const index = this.pending.indexOf(entry);
        if (index >= 0) this.pending.splice(index, 1);
      },
    };
  };

  /** Sleeps in virtual time. */
  sleep(ms: number): Promise<void> {
    return this.timer(ms).done;
  }

  /** Advances to `end`, firing timers in order (ties in creation order). */
  async runUntil(end: Date): Promise<void> {
    for (;;) {
      await flush();
      let best = -1;
      for (let i = 0; i < this.pending.length; i++) {
        const p = this.pending[i];
        if (!p || p.cancelled) continue;
        const b = this.pending[best];
        if (p.at <= end.getTime() && (b === undefined || p.at < b.at || (p.at === b.at && p.seq < b.seq)))
          best = i;
      }
      if (best < 0) break;
      const [next] = this.pending.splice(best, 1);
      if (!next) break;
      this.current = Math.max(this.current, next.at);
      next.resolve();
    }
    this.current = Math.max(this.current, end.getTime());
    await flush();
  }
}
