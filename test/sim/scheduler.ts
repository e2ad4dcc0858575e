/**
 * A seeded PRNG and a deterministic scheduler. Every I/O operation of the code under test awaits
 * `point(label)`, which parks it; the scheduler picks the next parked operation (or due timer) by
 * the seed, so a run is fully deterministic and replays from its seed. The current invocation (a
 * trigger delivery, a sweep, an API call) is tracked with AsyncLocalStorage, so a crash can be
 * injected at any await point: the invocation dies there, and every later operation in it throws,
 * as in a process killed mid-flight. Time is simulated: it advances by small seeded steps, by
 * seeded jumps, and to the next timer when nothing else can run.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** sfc32, seeded through splitmix32: small, fast, and good enough to spread faults evenly. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let state = seed >>> 0;
    const split = () => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[this.int(items.length)]!;
  }
}

/** What an invocation sees at the await point where its process was killed, and at every later one. */
export class CrashError extends Error {
  override readonly name = "CrashError";
}

/** One function invocation: a trigger delivery, a scheduled sweep, an API request. */
export interface Invocation {
  id: number;
  name: string;
  /** Harness work (setup) that faults never touch. */
  immune: boolean;
  dead: boolean;
  done: boolean;
  error: string | null;
}

interface Parked {
  seq: number;
  label: string;
  invocation: Invocation | undefined;
  wakeAt: number;
  resolve: () => void;
  reject: (error: Error) => void;
  /** The promise the parked operation awaits: found again when an abort signal wakes a sleep early. */
  promise: Promise<void> | undefined;
}

interface Timer {
  seq: number;
  label: string;
  at: number;
  periodic: boolean;
  fire: () => void;
}

/** How faults are injected at the await points; the world turns them off when faults stop. */
export interface PointFaults {
  /** Probability that the invocation dies at a picked await point. */
  crash: number;
  /** Probability that a picked operation fails with a transient error (the invocation lives on). */
  transient: number;
  /** Which labels may fail transiently (Firestore calls, publishes). */
  transientLabel: (label: string) => boolean;
  /** The transient error to throw for a label. */
  transientError: (label: string) => Error;
}

const drain = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The deterministic scheduler; see the module comment. */
export class Scheduler {
  now: number;
  readonly trace: string[] = [];
  readonly invocations: Invocation[] = [];
  faults: PointFaults = {
    crash: 0,
    transient: 0,
    transientLabel: () => false,
    transientError: (label) => new Error(`transient failure of ${label}`),
  };
  /** Upper bound of the seeded time step after each pick, and the chance and size of a jump. */
  step = { maxMs: 100, jumpChance: 0.005, jumpMaxMs: 20_000 };
  steps = 0;
  private parked: Parked[] = [];
  private timers: Timer[] = [];
  private seq = 0;
  private readonly storage = new AsyncLocalStorage<Invocation>();

  constructor(
    readonly rng: Prng,
    start: number,
    private readonly tracing: boolean,
  ) {
    this.now = start;
  }

  /** Appends a line to the trace (kept only when tracing, to keep soak runs fast). */
  log(line: string | (() => string)): void {
    if (this.tracing) this.trace.push(`${this.clock()} ${typeof line === "function" ? line() : line}`);
  }

  private clock(): string {
    return `+${(this.now / 1000).toFixed(3).padStart(9)}s`;
  }

  current(): Invocation | undefined {
    return this.storage.getStore();
  }

  /** An await point: parks until the scheduler picks it; throws CrashError if the invocation dies. */
  point(label: string): Promise<void> {
    return this.park(label, this.now);
  }

  /** Sleeps in simulated time: an await point that becomes runnable at `now + ms`, or at once when `signal` aborts. */
  sleep(ms: number, label = "sleep", signal?: AbortSignal): Promise<void> {
    const parked = this.park(`${label} ${Math.round(ms)}ms`, this.now + Math.max(0, ms));
    if (signal) {
      const wake = () => {
        const item = this.parked.find((candidate) => candidate.promise === parked);
        if (item) item.wakeAt = this.now;
      };
      if (signal.aborted) wake();
      else signal.addEventListener("abort", wake, { once: true });
    }
    return parked;
  }

  private park(label: string, wakeAt: number): Promise<void> {
    const invocation = this.current();
    if (invocation?.dead) return Promise.reject(new CrashError(`${invocation.name} is dead`));
    let item: Parked | undefined;
    const promise = new Promise<void>((resolve, reject) => {
      item = { seq: this.seq++, label, invocation, wakeAt, resolve, reject, promise: undefined };
      this.parked.push(item);
    });
    item!.promise = promise;
    return promise;
  }

  /** Runs `fire` at simulated time `at` (a delivery, a scheduled sweep, a scenario step). */
  at(at: number, label: string, fire: () => void, periodic = false): void {
    this.timers.push({ seq: this.seq++, label, at: Math.max(at, this.now), periodic, fire });
  }

  /** Starts an invocation of `work` in its own async context; its failure is recorded, never thrown. */
  spawn(name: string, work: () => Promise<unknown>, immune = false): Invocation {
    const invocation: Invocation = {
      id: this.invocations.length + 1,
      name,
      immune,
      dead: false,
      done: false,
      error: null,
    };
    this.invocations.push(invocation);
    this.log(`start #${invocation.id} ${name}`);
    void this.storage.run(invocation, async () => {
      try {
        await work();
      } catch (error) {
        invocation.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        if (!(error instanceof CrashError)) this.log(`#${invocation.id} ${name} failed: ${invocation.error}`);
      } finally {
        invocation.done = true;
        this.log(`end #${invocation.id} ${name}${invocation.dead ? " (crashed)" : ""}`);
      }
    });
    return invocation;
  }

  /** Whether anything but periodic timers is left: parked operations or one-off timers. */
  busy(): boolean {
    return this.parked.length > 0 || this.timers.some((timer) => !timer.periodic);
  }

  /** Runs until `stop()` holds, nothing is left before `deadline`, or `maxSteps` picks were made. */
  async run(
    stop: () => boolean,
    deadline: number,
    maxSteps: number,
  ): Promise<"stopped" | "deadline" | "steps"> {
    for (;;) {
      await drain();
      if (stop()) return "stopped";
      if (this.steps >= maxSteps) return "steps";
      const ready = this.parked.filter((item) => item.wakeAt <= this.now);
      const due = this.timers.filter((timer) => timer.at <= this.now);
      const total = ready.length + due.length;
      if (total === 0) {
        let next = Infinity;
        for (const item of this.parked) next = Math.min(next, item.wakeAt);
        for (const timer of this.timers) next = Math.min(next, timer.at);
        if (next === Infinity || next > deadline) return "deadline";
        this.now = next;
        continue;
      }
      this.steps += 1;
      const index = this.rng.int(total);
      if (index < ready.length) this.release(ready[index]!);
      else {
        const timer = due[index - ready.length]!;
        this.timers.splice(this.timers.indexOf(timer), 1);
        this.log(`fire ${timer.label}`);
        timer.fire();
      }
      this.now += this.rng.int(this.step.maxMs + 1);
      if (this.rng.chance(this.step.jumpChance)) {
        const jump = this.rng.int(this.step.jumpMaxMs);
        this.now += jump;
        this.log(`time jumps ${jump}ms`);
      }
    }
  }

  private release(item: Parked): void {
    this.parked.splice(this.parked.indexOf(item), 1);
    const invocation = item.invocation;
    const who = invocation ? `#${invocation.id} ${invocation.name}` : "harness";
    if (invocation?.dead) {
      item.reject(new CrashError(`${invocation.name} is dead`));
      return;
    }
    if (invocation && !invocation.immune && this.faults.crash > 0 && this.rng.chance(this.faults.crash)) {
      invocation.dead = true;
      this.log(`CRASH ${who} at ${item.label}`);
      item.reject(new CrashError(`${invocation.name} crashed at ${item.label}`));
      return;
    }
    if (
      invocation &&
      !invocation.immune &&
      this.faults.transient > 0 &&
      this.faults.transientLabel(item.label) &&
      this.rng.chance(this.faults.transient)
    ) {
      this.log(`FAIL ${who} at ${item.label}`);
      item.reject(this.faults.transientError(item.label));
      return;
    }
    this.log(() => `${who}: ${item.label}`);
    item.resolve();
  }
}
