/**
 * A person's data held by the control plane, and what erasing it means. Pure: which stored values
 * name a person, and the shape of an export and of an erasure's account; the store finds and
 * rewrites them (store/personal-data.ts).
 *
 * A person is known by their email and their Firebase Auth uid. The control plane names them as
 * `user:<email>` (who requested or decided a deployment, ran a job, applied a tuning change), as
 * the bare email or uid (the actor of an audit record), as `uid:<uid>` (a user without an email)
 * and as `user:<uid>` (who created an API key). Free text (an audit record's detail) names them
 * when it contains the email or the uid anywhere.
 */
import { z } from "zod";
import type { AuditRecord, PersonalField } from "./audit.js";

/** Firebase Auth uids: 1 to 128 characters, no slash (Auth refuses more; the emulator makes 28). */
const uidSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\s/:]+$/, "a Firebase Auth uid: no spaces, slashes or colons");

/** Who the request is about: an email, a uid, or both (the other is looked up in Firebase Auth). */
export const privacySubjectSchema = z
  .strictObject({
    email: z.email().max(200).optional(),
    uid: uidSchema.optional(),
  })
  .refine((subject) => subject.email !== undefined || subject.uid !== undefined, {
    message: "name the person by email, uid or both",
    path: ["email"],
  });
export type PrivacySubject = z.infer<typeof privacySubjectSchema>;

/** The person once Firebase Auth has filled in what it knows. */
export interface Person {
  email: string | null;
  uid: string | null;
}

/** Every exact value that names `person` in a field holding a principal (`requested_by`, an actor). */
export function namesOf(person: Person): string[] {
  const names: string[] = [];
  if (person.email !== null) {
    const email = person.email.toLowerCase();
    names.push(email, `user:${email}`);
  }
  if (person.uid !== null) names.push(person.uid, `uid:${person.uid}`, `user:${person.uid}`);
  return names;
}

/** Whether a principal field names the person (emails compared without case, as Auth does). */
export function names(person: Person, value: string | null | undefined): boolean {
  if (value === null || value === undefined) return false;
  const lower = value.toLowerCase();
  return namesOf(person).some((name) => name === value || name === lower);
}

/** Whether free text mentions the person's email (any case) or uid anywhere. */
export function mentions(person: Person, text: string | null | undefined): boolean {
  if (text === null || text === undefined) return false;
  return (
    (person.email !== null && text.toLowerCase().includes(person.email.toLowerCase())) ||
    (person.uid !== null && text.includes(person.uid))
  );
}

/** The fields of an audit record that name or mention the person; empty when it is not about them. */
export function personalFieldsOf(person: Person, record: AuditRecord): PersonalField[] {
  const fields: PersonalField[] = [];
  if (names(person, record.actor.id)) fields.push("actor.id");
  // Every name of the person contains their email or uid, so a mention covers a name too.
  if (mentions(person, record.target)) fields.push("target");
  if (mentions(person, record.detail)) fields.push("detail");
  return fields;
}

/**
 * The principal fields the control plane keeps outside the audit chain, per collection: each is a
 * dotted path to a string that may name a person. A field holding `pseudonym:<seal>` was erased.
 */
export const PERSON_FIELDS = {
  deployments: ["requested_by", "approval.decided_by"],
  job_runs: ["requested_by"],
  job_state: ["paused_by"],
  tuning_actions: ["applied_by"],
  api_keys: ["created_by"],
} as const satisfies Record<string, readonly string[]>;
export type PersonCollection = keyof typeof PERSON_FIELDS;

/** One document that names the person: where, and the fields with their values. */
export interface PersonalDocument {
  collection: PersonCollection | "audit_log";
  id: string;
  fields: Record<string, string>;
}

/** What `POST /privacy/export` answers: everything the control plane holds that names the person. */
export interface PersonalDataExport {
  person: Person;
  generated_at: Date;
  documents: PersonalDocument[];
  /** The audit records about the person, whole. */
  audit_records: AuditRecord[];
  /** Warehouse events whose actor is the person (count and the first ones; the warehouse is searched by actor). */
  warehouse_events: number;
  /** What the export does not cover, said once here so nobody assumes it does. */
  not_covered: string[];
}

/** What `POST /privacy/erase` answers: each store's rewritten documents and the chain's verification after. */
export interface ErasureResult {
  /** The pseudonym the person's email (or uid) became: how later records refer to the erasure. */
  pseudonym: string;
  documents: Record<PersonCollection | "audit_log", number>;
  warehouse_events: number;
  audit_chain: { ok: true; count: number } | { ok: false; seq: number; problem: string; message: string };
  not_covered: string[];
}

/** Copies the control plane does not rewrite, named in every export and erasure. */
export const NOT_COVERED = [
  "control-plane backups taken before the erasure keep the old values until their retention ends (README: Disaster recovery of the control plane)",
  "the orchestration config names people it grants roles to (auth role_accounts): change the config with POST /config",
  "Cloud Logging entries, whose retention is the project's log retention",
  "events still on their way to the warehouse when the erasure runs: run it again once the event stream has caught up",
] as const;
