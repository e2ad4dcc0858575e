/** The one module that publishes to Pub/Sub: task messages and the event stream. */
import { PubSub, type Topic } from "@google-cloud/pubsub";
import { z } from "zod";

export const TOPICS = { tasks: "orchestration-tasks", events: "orchestration-events" } as const;

/** Tasks one message may carry: one executor invocation runs them side by side (Cloud Functions 2nd gen serves concurrent work in one instance). */
export const TASKS_PER_MESSAGE = 10;

/**
 * One task a message asks to run. Its environment and concurrency limit let the claim read task,
 * deployment and slots at once (optional: messages published before they were added lack them).
 */
export const taskRefSchema = z.strictObject({
  task_id: z.string().min(1),
  deployment_id: z.string().min(1),
  environment: z.string().min(1).optional(),
  concurrency_limit: z.int().min(1).max(100).optional(),
});
export type TaskRef = z.infer<typeof taskRefSchema>;

/** A message on `orchestration-tasks`: run these tasks (or, as older publishers sent it, this one task). */
export const taskMessageSchema = z.union([
  z.strictObject({ tasks: z.array(taskRefSchema).min(1).max(TASKS_PER_MESSAGE) }),
  taskRefSchema,
]);
export type TaskMessage = z.infer<typeof taskMessageSchema>;

/** The tasks a message asks to run. */
export function tasksOfMessage(message: TaskMessage): TaskRef[] {
  return "tasks" in message ? message.tasks : [message];
}

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
