/**
 * The simulated driver: a test and benchmark tool that behaves as a task's `simulation` says
 * (latency, fail the first N attempts, fail always, hang past the lease). It records each
 * attempt it runs in `simulated_runs`, so tests can prove no attempt ran twice.
 */
import { FieldValue, type Firestore } from "firebase-admin/firestore";
import type { Driver } from "./driver.js";

export const SIMULATED_RUNS = "simulated_runs";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createSimulatedDriver(db: Firestore): Driver {
  const record = async (id: string, fields: Record<string, unknown>) => {
    const ref = db.collection(SIMULATED_RUNS).doc(id);
    try {
      await ref.create({ ...fields, runs: 1, at: new Date() });
    } catch {
      await ref.update({ runs: FieldValue.increment(1) });
    }
  };
  return {
    async apply({ task, attempt }) {
      const simulation = task.simulation;
      await record(`${task.id}__${attempt}`, {
        task_id: task.id,
        attempt,
        action: "apply",
        environment: task.environment,
      });
      if (simulation && attempt <= simulation.hang_first) await sleep(simulation.hang_ms);
      if (simulation && simulation.latency_ms > 0) await sleep(simulation.latency_ms);
      if (simulation?.fail_always)
        throw new Error(`simulated failure of ${task.integration} (fails on every attempt)`);
      if (simulation && attempt <= simulation.fail_first)
        throw new Error(`simulated transient failure ${attempt} of ${simulation.fail_first}`);
      return { summary: `simulated apply of ${task.integration} (attempt ${attempt})` };
    },
    async rollback({ task, attempt }) {
      // A rollback takes effect once: a repeat (a lost executor's work taken over) changes nothing.
      const ref = db.collection(SIMULATED_RUNS).doc(`${task.id}__rollback`);
      try {
        await ref.create({
          task_id: task.id,
          attempt,
          action: "rollback",
          environment: task.environment,
          runs: 1,
          at: new Date(),
        });
      } catch {
        await ref.update({ repeats: FieldValue.increment(1) });
        return { summary: `simulated rollback of ${task.integration}: already rolled back, nothing changed` };
      }
      return { summary: `simulated rollback of ${task.integration}` };
    },
  };
}
