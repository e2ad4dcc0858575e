/** Every integration kind's driver, wired with what it needs. */
import type { Firestore } from "firebase-admin/firestore";
import type { IntegrationKind } from "../domain/integrations.js";
import { analyticsDriver } from "./analytics.js";
import { cicdDriver } from "./cicd.js";
import { hostingDriver } from "./hosting.js";
import { securityDriver } from "./security.js";
import { storageDriver } from "./storage.js";
import type { DriverSpec } from "./types.js";

export interface DriverDeps {
  /** The control plane's own Firestore (monitoring installs its alert rules there). */
  db: Firestore;
  /** Where backups of emulated environments are kept. */
  backupRoot: string;
}

/** The driver spec of each kind. */
export function createDriverSpecs(_deps: DriverDeps): { [K in IntegrationKind]?: DriverSpec<K> } {
  return {
    hosting: hostingDriver,
    storage: storageDriver,
    security: securityDriver,
    analytics: analyticsDriver,
    cicd: cicdDriver,
  };
}
