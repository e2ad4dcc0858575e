/** Feeds the stack's local warehouse through orchestration-events, as the engine does, and waits until it holds them. */
import { PubSub } from "@google-cloud/pubsub";
import { TOPICS, type OrchestrationEvent } from "../../functions/src/bus.js";
import { projectId, waitFor } from "./emulators.js";

/**
 * Skips the suite, saying why, when the stack has no local warehouse; under CI it fails instead, so
 * a green run means the warehouse suites ran (as for the emulators and Chromium).
 */
export function requireWarehouse(context: Mocha.Context, suite: string): void {
  if (process.env.ORCH_WAREHOUSE_URL) return;
  const why = "no local warehouse (ORCH_WAREHOUSE_URL unset; the stack scripts set it)";
  if (process.env.CI === "true") throw new Error(`the ${suite} suite cannot run: ${why}`);
  console.log(`    skipped: ${why}`);
  context.skip();
}

/** The local warehouse's own counters (GET /status). */
export async function warehouseStatus(): Promise<{
  events: number;
  received: number;
  inserted: number;
  rejected: number;
  uncommitted: number;
}> {
  const response = await fetch(`${process.env.ORCH_WAREHOUSE_URL}/status`);
  return (await response.json()) as Awaited<ReturnType<typeof warehouseStatus>>;
}

/** Resolves once the warehouse has received `count` more messages than `before` and committed them all. */
export async function warehouseCaughtUp(
  before: { received: number },
  count: number,
  timeoutMs = 120_000,
): Promise<void> {
  await waitFor(
    `the warehouse to receive and commit ${count} messages`,
    async () => {
      const now = await warehouseStatus();
      return now.received >= before.received + count && now.uncommitted === 0;
    },
    timeoutMs,
    200,
  );
}

/** Publishes events (batched) and resolves once the warehouse has received every one. */
export async function publishToWarehouse(events: readonly OrchestrationEvent[]): Promise<void> {
  const pubsub = new PubSub({ projectId: projectId() });
  try {
    const before = await warehouseStatus();
    const [topic] = await pubsub.topic(TOPICS.events).get({ autoCreate: true });
    topic.setPublishOptions({ batching: { maxMessages: 1000, maxMilliseconds: 20 } });
    await Promise.all(
      events.map((event) =>
        topic.publishMessage({ json: event, attributes: { dedupe_key: event.event_id } }),
      ),
    );
    await warehouseCaughtUp(before, events.length);
  } finally {
    await pubsub.close();
  }
}
