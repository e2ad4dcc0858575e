/** Writes orchestration.schema.json from the zod schema: `npm run schema`. */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { configJsonSchema } from "../functions/src/domain/config-json-schema.js";

const target = fileURLToPath(new URL("../orchestration.schema.json", import.meta.url));
writeFileSync(target, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
