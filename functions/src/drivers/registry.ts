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
import { liveAnalyticsSpec } from "./live/analytics-live.js";
import { liveAuthSpec } from "./live/auth-live.js";
import { liveCicdSpec } from "./live/cicd-live.js";
import { liveBackupSpec } from "./live/backup-live.js";
import { liveFirestoreSpec } from "./live/firestore-live.js";
import { liveFunctionsSpec } from "./live/functions-live.js";
import { liveHostingSpec } from "./live/hosting-live.js";
import { liveMonitoringSpec } from "./live/monitoring-live.js";
import { liveStorageSpec } from "./live/storage-live.js";
import { liveSecuritySpec } from "./live/security-live.js";
import type { DriverSpec } from "./types.js";

/**
 * One kind's spec with a live half: live environments go to `live`, the others to `local`. The
 * state handed to apply is the one the same half's desired() built, so each half gets its own shape.
 */
export function byMode<K extends IntegrationKind, L, R>(
  local: DriverSpec<K, L>,
  live: DriverSpec<K, R>,
): DriverSpec<K, L | R> {
  const pick = (target: { environment: { mode: string } }) =>
    target.environment.mode === "live" ? live : local;
  return {
    kind: local.kind,
    mode: (environment) => (environment.mode === "live" ? live : local).mode(environment),
    desired: (target, io) => pick(target).desired(target, io),
    observe: (target, io) => pick(target).observe(target, io),
    // The fabricator hands back the state this half's desired() or observe() made (or a release recorded in the same mode).
    apply: (target, state, io) =>
      target.environment.mode === "live"
        ? live.apply(target, state as R, io)
        : local.apply(target, state as L, io),
    verify: (target, io, release) => pick(target).verify(target, io, release),
  };
}

export interface DriverDeps {
  /** The control plane's own Firestore (monitoring installs its alert rules there). */
  db: Firestore;
  /** Where backups of emulated environments are kept. */
  backupRoot: string;
}

/** The driver spec of each kind. */
export function createDriverSpecs(deps: DriverDeps): { [K in IntegrationKind]?: DriverSpec<K> } {
  return {
    auth: byMode(authDriver, liveAuthSpec),
    firestore: byMode(firestoreDriver, liveFirestoreSpec),
    functions: byMode(functionsDriver, liveFunctionsSpec),
    backup: byMode(createBackupDriver({ backupRoot: deps.backupRoot }), liveBackupSpec),
    monitoring: byMode(createMonitoringDriver(deps.db), liveMonitoringSpec),
    hosting: byMode(hostingDriver, liveHostingSpec),
    storage: byMode(storageDriver, liveStorageSpec),
    security: byMode(securityDriver, liveSecuritySpec),
    analytics: byMode(analyticsDriver, liveAnalyticsSpec),
    cicd: byMode(cicdDriver, liveCicdSpec),
  };
}
