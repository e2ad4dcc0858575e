/** Every integration kind's driver, wired with what it needs. */
import type { Firestore } from "firebase-admin/firestore";
import type { IntegrationKind } from "../domain/integrations.js";
import { analyticsDriver } from "./analytics.js";
import { authDriver } from "./auth.js";
import { createBackupDriver } from "./backup.js";
import { firestoreDriver } from "./firestore.js";
import { functionsDriver } from "./functions.js";
import { createMonitoringDriver } from "./monitoring.js";
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
export function createDriverSpecs(deps: DriverDeps): { [K in IntegrationKind]?: DriverSpec<K> } {
  return {
    auth: authDriver,
    firestore: firestoreDriver,
    functions: functionsDriver,
    backup: createBackupDriver({ backupRoot: deps.backupRoot }),
    monitoring: createMonitoringDriver(deps.db),
    hosting: hostingDriver,
    storage: storageDriver,
    security: securityDriver,
    analytics: analyticsDriver,
    cicd: cicdDriver,
  };
}
