import type { Health } from "../../functions/src/drivers/types.js";
import type { Fabricator } from "../../functions/src/drivers/fabricator.js";

/** A fabricator that only probes, as the health monitor uses one: each integration answers `verify`. */
export function probingFabricator(
  verify: (target: { environment: { name: string }; integration: string }) => Promise<Health>,
): Fabricator {
  return {
    verify,
    verifyEnvironment: (targets: { environment: { name: string }; integration: string }[]) =>
      Promise.all(targets.map(verify)),
  } as unknown as Fabricator; // the health monitor calls only these two
}
