/**
 * What each integration's live driver needs in a real project: the least-privilege predefined role
 * and the IAM permissions the driver's calls use, so `doctor` can test them (testIamPermissions)
 * and name each missing one with the role that grants it. Pure data: the README's table and the
 * doctor read the same rows.
 */
import type { IntegrationKind } from "./integrations.js";

/** One permission a live driver's calls need, and why. */
export interface LivePermission {
  permission: string;
  /** The predefined role that grants it with least privilege. */
  role: string;
  /** Which calls of the driver need it. */
  used_for: string;
}

/** A kind's live path: built (calls Google) or not yet (the driver refuses live, or stays staged). */
export type LiveSupport =
  { built: true; api: string; permissions: LivePermission[] } | { built: false; reason: string };

const HOSTING_ADMIN = "roles/firebasehosting.admin";
const RULES_ADMIN = "roles/firebaserules.admin";
const INDEX_ADMIN = "roles/datastore.indexAdmin";
const AUTH_ADMIN = "roles/firebaseauth.admin";
const STORAGE_ADMIN = "roles/storage.admin";
const SCHEDULES_ADMIN = "roles/datastore.backupSchedulesAdmin";
const BACKUPS_ADMIN = "roles/datastore.backupsAdmin";
const RESTORE_ADMIN = "roles/datastore.restoreAdmin";
const EXPORT_ADMIN = "roles/datastore.importExportAdmin";
const DATASTORE_OWNER = "roles/datastore.owner";
const ALERT_EDITOR = "roles/monitoring.alertPolicyEditor";
const UPTIME_EDITOR = "roles/monitoring.uptimeCheckConfigEditor";
const BIGQUERY_EDITOR = "roles/bigquery.dataEditor";
const BIGQUERY_OWNER = "roles/bigquery.dataOwner";
const PROJECT_IAM_ADMIN = "roles/resourcemanager.projectIamAdmin";
const APP_CHECK_ADMIN = "roles/firebaseappcheck.admin";
const BUILDS_VIEWER = "roles/cloudbuild.builds.viewer";
const BUILDS_EDITOR = "roles/cloudbuild.builds.editor";
const OBJECT_CREATOR = "roles/storage.objectCreator";
const WIF_POOL_ADMIN = "roles/iam.workloadIdentityPoolAdmin";
const SERVICE_ACCOUNT_ADMIN = "roles/iam.serviceAccountAdmin";

/** Per kind: whether its live path exists, and what it needs. */
export const LIVE_SUPPORT: Record<IntegrationKind, LiveSupport> = {
  hosting: {
    built: true,
    api: "firebasehosting.googleapis.com (v1beta1)",
    permissions: [
      {
        permission: "firebasehosting.sites.get",
        role: HOSTING_ADMIN,
        used_for: "plan and verify: read the live channel, releases and version files",
      },
      {
        permission: "firebasehosting.sites.update",
        role: HOSTING_ADMIN,
        used_for: "apply and rollback: create, populate, finalize and release versions",
      },
    ],
  },
  firestore: {
    built: true,
    api: "firebaserules.googleapis.com (v1) for rules, firestore.googleapis.com (v1) for composite indexes",
    permissions: [
      {
        permission: "firebaserules.releases.get",
        role: RULES_ADMIN,
        used_for: "plan and verify: read the cloud.firestore release",
      },
      {
        permission: "firebaserules.rulesets.get",
        role: RULES_ADMIN,
        used_for: "plan and verify: read the released rules' source",
      },
      {
        permission: "firebaserules.rulesets.create",
        role: RULES_ADMIN,
        used_for: "apply: compile a ruleset",
      },
      {
        permission: "firebaserules.releases.update",
        role: RULES_ADMIN,
        used_for: "apply and rollback: point cloud.firestore at a ruleset",
      },
      {
        permission: "firebaserules.releases.create",
        role: RULES_ADMIN,
        used_for: "first apply on a project without rules",
      },
      {
        permission: "datastore.indexes.list",
        role: INDEX_ADMIN,
        used_for: "plan, apply and verify: read the indexes",
      },
      { permission: "datastore.indexes.create", role: INDEX_ADMIN, used_for: "apply: create wanted indexes" },
      {
        permission: "datastore.indexes.delete",
        role: INDEX_ADMIN,
        used_for: "apply and rollback: delete indexes the config no longer lists",
      },
    ],
  },
  auth: {
    built: true,
    api: "identitytoolkit.googleapis.com (v2): project config (providers, domains, MFA, password policy)",
    permissions: [
      {
        permission: "firebaseauth.configs.get",
        role: AUTH_ADMIN,
        used_for: "plan and verify: read the config",
      },
      {
        permission: "firebaseauth.configs.update",
        role: AUTH_ADMIN,
        used_for: "apply and rollback: update the config",
      },
    ],
  },
  storage: {
    built: true,
    api: "storage.googleapis.com (JSON v1) for the bucket, firebaserules.googleapis.com (v1) for its rules",
    permissions: [
      {
        permission: "storage.buckets.get",
        role: STORAGE_ADMIN,
        used_for: "plan, apply and verify: read the bucket's location, CORS and lifecycle",
      },
      {
        permission: "storage.buckets.update",
        role: STORAGE_ADMIN,
        used_for: "apply and rollback: patch CORS and lifecycle",
      },
      {
        permission: "firebaserules.releases.get",
        role: RULES_ADMIN,
        used_for: "plan and verify: read the firebase.storage/<bucket> release",
      },
      {
        permission: "firebaserules.rulesets.get",
        role: RULES_ADMIN,
        used_for: "plan and verify: read the released rules' source",
      },
      {
        permission: "firebaserules.rulesets.create",
        role: RULES_ADMIN,
        used_for: "apply: compile a ruleset",
      },
      {
        permission: "firebaserules.releases.update",
        role: RULES_ADMIN,
        used_for: "apply and rollback: point the bucket's release at a ruleset",
      },
      {
        permission: "firebaserules.releases.create",
        role: RULES_ADMIN,
        used_for: "first apply on a bucket without rules",
      },
    ],
  },
  functions: {
    built: true,
    api: "cloudbuild.googleapis.com (v1): a build running firebase deploy; storage.googleapis.com (v1) for the source bundle",
    permissions: [
      {
        permission: "cloudbuild.builds.list",
        role: BUILDS_VIEWER,
        used_for: "plan, apply and verify: find the newest builds tagged orchestrator / env / integration",
      },
      {
        permission: "cloudbuild.builds.get",
        role: BUILDS_VIEWER,
        used_for: "apply and rollback: poll the build's operation and the build",
      },
      {
        permission: "cloudbuild.builds.create",
        role: BUILDS_EDITOR,
        used_for: "apply and rollback: start the firebase deploy build",
      },
      {
        permission: "storage.objects.create",
        role: OBJECT_CREATOR,
        used_for:
          "apply: upload the bundle to <project>.firebasestorage.app/orchestration-functions/ (ifGenerationMatch=0, never overwrites)",
      },
    ],
  },
  monitoring: {
    built: true,
    api: "monitoring.googleapis.com (v3): an uptime check of the hosting site and alert policies on it",
    permissions: [
      {
        permission: "monitoring.uptimeCheckConfigs.list",
        role: UPTIME_EDITOR,
        used_for: "plan, apply and verify: read the uptime checks",
      },
      {
        permission: "monitoring.uptimeCheckConfigs.create",
        role: UPTIME_EDITOR,
        used_for: "apply: create the uptime check",
      },
      {
        permission: "monitoring.uptimeCheckConfigs.update",
        role: UPTIME_EDITOR,
        used_for: "apply and rollback: change its period or host",
      },
      {
        permission: "monitoring.uptimeCheckConfigs.delete",
        role: UPTIME_EDITOR,
        used_for: "apply: delete a duplicate of ours",
      },
      {
        permission: "monitoring.alertPolicies.list",
        role: ALERT_EDITOR,
        used_for: "plan, apply and verify: read the alert policies",
      },
      {
        permission: "monitoring.alertPolicies.create",
        role: ALERT_EDITOR,
        used_for: "apply: create the four threshold policies",
      },
      {
        permission: "monitoring.alertPolicies.update",
        role: ALERT_EDITOR,
        used_for: "apply and rollback: change thresholds and channels",
      },
      {
        permission: "monitoring.alertPolicies.delete",
        role: ALERT_EDITOR,
        used_for: "apply: delete policies of ours the config no longer makes",
      },
    ],
  },
  backup: {
    built: true,
    api: "firestore.googleapis.com (v1): backup schedules, managed exports, restore into a scratch database",
    permissions: [
      {
        permission: "datastore.backupSchedules.list",
        role: SCHEDULES_ADMIN,
        used_for: "plan, apply and verify: read the default database's backup schedules",
      },
      {
        permission: "datastore.backupSchedules.create",
        role: SCHEDULES_ADMIN,
        used_for: "apply: create the daily or weekly schedule",
      },
      {
        permission: "datastore.backupSchedules.update",
        role: SCHEDULES_ADMIN,
        used_for: "apply and rollback: change a schedule's retention",
      },
      {
        permission: "datastore.backupSchedules.delete",
        role: SCHEDULES_ADMIN,
        used_for: "apply and rollback: delete schedules the config no longer asks for",
      },
      {
        permission: "datastore.databases.export",
        role: EXPORT_ADMIN,
        used_for: "apply: a managed export of the listed collections to the project's bucket",
      },
      {
        permission: "datastore.operations.list",
        role: EXPORT_ADMIN,
        used_for: "plan: read which collections the newest managed export covered",
      },
      {
        permission: "datastore.operations.get",
        role: EXPORT_ADMIN,
        used_for: "apply and verify: wait for the export and the restore to finish",
      },
      {
        permission: "datastore.backups.list",
        role: BACKUPS_ADMIN,
        used_for: "verify: find the newest backup",
      },
      {
        permission: "datastore.backups.restoreDatabase",
        role: RESTORE_ADMIN,
        used_for: "verify: restore the newest backup into a scratch database",
      },
      {
        permission: "datastore.databases.create",
        role: RESTORE_ADMIN,
        used_for: "verify: the restore creates the scratch database",
      },
      {
        permission: "datastore.databases.list",
        role: SCHEDULES_ADMIN,
        used_for: "verify: find the scratch databases of earlier restore checks",
      },
      {
        permission: "datastore.databases.getMetadata",
        role: SCHEDULES_ADMIN,
        used_for: "verify: read the restored scratch database's source",
      },
      {
        permission: "datastore.databases.delete",
        role: DATASTORE_OWNER,
        used_for: "verify: delete the scratch database of an older restore check",
      },
    ],
  },
  security: {
    built: true,
    api: "cloudresourcemanager.googleapis.com (v3) for the IAM bindings of the roles the config declares, firebaseappcheck.googleapis.com (v1) for App Check enforcement on Firestore and Storage",
    permissions: [
      {
        permission: "resourcemanager.projects.getIamPolicy",
        role: PROJECT_IAM_ADMIN,
        used_for: "plan, apply and verify: read the policy and its etag",
      },
      {
        permission: "resourcemanager.projects.setIamPolicy",
        role: PROJECT_IAM_ADMIN,
        used_for: "apply and rollback: write the owned roles' members, guarded by the etag",
      },
      {
        permission: "firebaseappcheck.services.get",
        role: APP_CHECK_ADMIN,
        used_for: "plan, apply and verify: read Firestore's and Storage's enforcement mode",
      },
      {
        permission: "firebaseappcheck.services.update",
        role: APP_CHECK_ADMIN,
        used_for: "apply and rollback: set the enforcement mode",
      },
    ],
  },
  analytics: {
    built: true,
    api: "bigquery.googleapis.com (v2): the event-stream dataset and its orchestration_events table",
    permissions: [
      {
        permission: "bigquery.datasets.get",
        role: BIGQUERY_EDITOR,
        used_for: "plan, apply and verify: read the dataset's location, labels and default expiration",
      },
      {
        permission: "bigquery.datasets.create",
        role: BIGQUERY_EDITOR,
        used_for: "apply: create the dataset",
      },
      {
        // dataEditor lacks it; the principal that creates the dataset is its owner anyway.
        permission: "bigquery.datasets.update",
        role: BIGQUERY_OWNER,
        used_for: "apply and rollback: patch the description, our labels and the default table expiration",
      },
      {
        permission: "bigquery.tables.get",
        role: BIGQUERY_EDITOR,
        used_for: "plan, apply and verify: read the table's schema, partitioning and clustering",
      },
      { permission: "bigquery.tables.create", role: BIGQUERY_EDITOR, used_for: "apply: create the table" },
      {
        permission: "bigquery.tables.update",
        role: BIGQUERY_EDITOR,
        used_for: "apply and rollback: add columns, change partition expiration and clustering",
      },
    ],
  },
  cicd: {
    built: true,
    api: "iam.googleapis.com (v1): a Workload Identity pool, its GitHub Actions OIDC provider and roles/iam.workloadIdentityUser on the deployer service account; the workflow is an artifact to commit",
    permissions: [
      {
        permission: "iam.workloadIdentityPools.get",
        role: WIF_POOL_ADMIN,
        used_for: "plan, apply and verify: read the pool; apply: poll the pool's operations",
      },
      {
        permission: "iam.workloadIdentityPools.create",
        role: WIF_POOL_ADMIN,
        used_for: "apply: create the pool",
      },
      {
        permission: "iam.workloadIdentityPools.update",
        role: WIF_POOL_ADMIN,
        used_for: "apply and rollback: patch the pool's display name, description, disabled",
      },
      {
        permission: "iam.workloadIdentityPools.undelete",
        role: WIF_POOL_ADMIN,
        used_for: "apply: undelete a pool soft-deleted within 30 days",
      },
      {
        permission: "iam.workloadIdentityPoolProviders.get",
        role: WIF_POOL_ADMIN,
        used_for: "plan, apply and verify: read the GitHub provider; apply: poll its operations",
      },
      {
        permission: "iam.workloadIdentityPoolProviders.create",
        role: WIF_POOL_ADMIN,
        used_for: "apply: create the GitHub OIDC provider",
      },
      {
        permission: "iam.workloadIdentityPoolProviders.update",
        role: WIF_POOL_ADMIN,
        used_for:
          "apply and rollback: patch the attribute condition and mapping, the issuer, the workflow digest in the description",
      },
      {
        permission: "iam.workloadIdentityPoolProviders.undelete",
        role: WIF_POOL_ADMIN,
        used_for: "apply: undelete a provider soft-deleted within 30 days",
      },
      {
        permission: "iam.serviceAccounts.getIamPolicy",
        role: SERVICE_ACCOUNT_ADMIN,
        used_for: "plan, apply and verify: read the deployer service account's IAM policy",
      },
      {
        permission: "iam.serviceAccounts.setIamPolicy",
        role: SERVICE_ACCOUNT_ADMIN,
        used_for:
          "apply and rollback: set the repository's principalSet on roles/iam.workloadIdentityUser (read-modify-write with the etag)",
      },
    ],
  },
};
