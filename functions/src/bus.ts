/** The one module that publishes to Pub/Sub: task messages and the event stream. */
import { PubSub, type Topic } from "@google-cloud/pubsub";
import { z } from "zod";

export const TOPICS = { tasks: "orchestration-tasks", events: "orchestration-events" } as const;

/** A message on `orchestration-tasks`: run this task. */
export const taskMessageSchema = z.strictObject({
  task_id: z.string().min(1),
  deployment_id: z.string().min(1),
  /** The task's environment and concurrency limit, so the claim reads everything at once (optional: older messages lack them). */
  environment: z.string().min(1).optional(),
  concurrency_limit: z.int().min(1).max(100).optional(),
});
export type TaskMessage = z.infer<typeof taskMessageSchema>;

/** Every kind of fact on the event stream (the warehouse's `kind` column). */
export const EVENT_KINDS = ["task", "deployment", "alert", "health", "audit", "job", "tuning"] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * A state change on `orchestration-events`; `event_id` is the dedupe key consumers use. `at` is the
 * event's time (the warehouse's `time` column); `duration` (seconds), `actor` and `payload` were added
 * later and default to null, so producers written before them publish unchanged.
 */
export const orchestrationEventSchema = z.strictObject({
  event_id: z.string().min(1),
  kind: z.enum(EVENT_KINDS),
  deployment_id: z.string().nullable(),
  task_id: z.string().nullable(),
  environment: z.string(),
  integration: z.string().nullable(),
  from: z.string().nullable(),
  to: z.string(),
  attempt: z.int().nullable(),
  detail: z.string().nullable(),
  correlation_id: z.string(),
  at: z.iso.datetime({ offset: true }),
  duration: z.number().min(0).nullable().default(null),
  actor: z.string().nullable().default(null),
  payload: z.record(z.string(), z.unknown()).nullable().default(null),
});
/** An event as producers write it (the later fields optional). */
export type OrchestrationEvent = z.input<typeof orchestrationEventSchema>;
/** An event as consumers read it, every field present. */
export type ParsedOrchestrationEvent = z.output<typeof orchestrationEventSchema>;

/** Where the engine sends messages; an in-memory fake implements the same in unit tests. */
export interface Bus {
  publishTask(message: TaskMessage): Promise<void>;
  publishEvent(event: OrchestrationEvent): Promise<void>;
}

/** The Pub/Sub bus; topics are created on first use, since the emulator starts empty. */
export function createPubSubBus(pubsub: PubSub = new PubSub({ projectId: process.env.GCLOUD_PROJECT })): Bus {
  // An explicit project id spares the client a metadata-server lookup, which times out off Google Cloud.
  const ready = new Map<string, Promise<Topic>>();
  const topic = (name: string) => {
    let found = ready.get(name);
    if (!found) {
      found = pubsub
        .topic(name)
        .get({ autoCreate: true })
        .then(([created]) => created);
      found.catch(() => ready.delete(name));
      ready.set(name, found);
    }
    return found;
  };
  return {
    async publishTask(message) {
      await (await topic(TOPICS.tasks)).publishMessage({ json: taskMessageSchema.parse(message) });
    },
    async publishEvent(event) {
      await (
        await topic(TOPICS.events)
      ).publishMessage({
        json: orchestrationEventSchema.parse(event),
        attributes: { dedupe_key: event.event_id },
      });
    },
  };
}
