/** Resolves environments from the loaded config, for the engine and the drivers. */
import { validateConfig } from "../domain/config.js";
import type { ResolvedConfig, ResolvedEnvironment } from "../domain/config-schema.js";
import { BadInputError, NotFoundError } from "../domain/errors.js";
import { withOverrides, type TuningOverride } from "../domain/learning/tuning.js";
import type { Store } from "../store/store.js";

/**
 * `environment(name)` answers the environment as it is in force: the config's, with the tuning
 * overrides applied (`overridesOf`; none without it). `config()` answers the config as loaded.
 */
export function createEnvironmentResolver(
  store: Store,
  overridesOf: (environment: string) => Promise<TuningOverride[]> = () => Promise.resolve([]),
) {
  async function config(): Promise<ResolvedConfig> {
    const current = await store.currentConfig();
    if (!current)
      throw new NotFoundError("no orchestration config is loaded; POST it to /api/orchestration/config");
    const result = validateConfig(current.config_data);
    if (!result.ok) throw new Error(`the stored config is invalid: ${result.problems[0]?.message ?? ""}`);
    return result.config;
  }
  return {
    config,
    async environment(name: string): Promise<ResolvedEnvironment> {
      const resolved = await config();
      const env = resolved.environments.find((candidate) => candidate.name === name);
      if (!env) {
        const names = resolved.environments.map((e) => `"${e.name}"`).join(", ");
        throw new BadInputError(`environment "${name}" is not declared`, [
          {
            path: "environment",
            found: `"${name}"`,
            allowed: `one of ${names}`,
            message: `environment: found "${name}"; allowed: one of ${names}`,
          },
        ]);
      }
      return withOverrides(env, await overridesOf(env.name));
    },
  };
}

export type EnvironmentResolver = ReturnType<typeof createEnvironmentResolver>;
