/** The JSON Schema editors use for orchestration.json, generated from the zod schema so the two never disagree. */
import { z } from "zod";
import { orchestrationConfigSchema } from "./config-schema.js";

export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(orchestrationConfigSchema, { io: "input" }),
    title: "Firebase Master Orchestration System config (orchestration.json)",
  };
}
