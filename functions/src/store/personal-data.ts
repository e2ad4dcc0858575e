/**
 * Finds and erases what the control plane holds about a person: the principal fields of its
 * collections (domain/privacy.ts says which), the audit records and the warehouse's events.
 * Erasure writes `pseudonym:<seal>` (keyed with the audit chain's key) in place of each value, so
 * the same person stays the same pseudonym everywhere and the audit chain still verifies.
 */
import type { Firestore } from "firebase-admin/firestore";
import { timestampsToDates } from "../domain/timestamps.js";
import {
  NOT_COVERED,
  PERSON_FIELDS,
  names,
  namesOf,
  personalFieldsOf,
  type ErasureResult,
  type Person,
  type PersonCollection,
  type PersonalDataExport,
  type PersonalDocument,
} from "../domain/privacy.js";
import type { AuditRecord } from "../domain/audit.js";
import type { PersonMatch } from "../warehouse/queries.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import type { AuditLog } from "./audit-log.js";

/** Audit records read per page when looking for a person. */
const AUDIT_PAGE = 1000;

/** What an event's detail that mentioned the person becomes in the warehouse. */
const ERASED_DETAIL = "(erased: it named a person)";

export interface PersonalData {
  export(person: Person): Promise<PersonalDataExport>;
  erase(person: Person): Promise<ErasureResult>;
}

function valueAt(data: Record<string, unknown>, dotted: string): unknown {
  return dotted
    .split(".")
    .reduce<unknown>(
      (inner, key) =>
        typeof inner === "object" && inner !== null ? (inner as Record<string, unknown>)[key] : undefined,
      data,
    );
}

/**
 * The names to look for by equality (at most 7, within Firestore's 30 values of an `in` filter):
 * lower-cased as `namesOf` gives them, and the email as given, which a stored value may keep.
 */
function lookupValues(person: Person): string[] {
  const values = new Set(namesOf(person));
  if (person.email !== null) values.add(person.email).add(`user:${person.email}`);
  return [...values];
}

export function createPersonalData(deps: {
  db: Firestore;
  audit: AuditLog;
  warehouse: () => Promise<Warehouse | null>;
  clock: { now(): Date };
}): PersonalData {
  const { db, audit } = deps;

  /** Every document of the principal-field collections that names the person, with those fields. */
  async function namingDocuments(person: Person): Promise<PersonalDocument[]> {
    const values = lookupValues(person);
    const found = new Map<string, PersonalDocument>();
    for (const [collection, fields] of Object.entries(PERSON_FIELDS) as [
      PersonCollection,
      readonly string[],
    ][]) {
      for (const field of fields) {
        const snap = await db.collection(collection).where(field, "in", values).get();
        for (const doc of snap.docs) {
          const data = timestampsToDates(doc.data()) as Record<string, unknown>;
          const key = `${collection}/${doc.id}`;
          const entry = found.get(key) ?? { collection, id: doc.id, fields: {} };
          for (const candidate of fields) {
            const value = valueAt(data, candidate);
            if (typeof value === "string" && names(person, value)) entry.fields[candidate] = value;
          }
          found.set(key, entry);
        }
      }
    }
    return [...found.values()];
  }

  /** The audit records about the person, in chain order. */
  async function auditRecordsAbout(person: Person): Promise<AuditRecord[]> {
    const about: AuditRecord[] = [];
    for (let from = 1; ; from += AUDIT_PAGE) {
      const page = await audit.list({ from, limit: AUDIT_PAGE });
      about.push(...page.filter((record) => personalFieldsOf(person, record).length > 0));
      if (page.length < AUDIT_PAGE) return about;
    }
  }

  /** The warehouse's events naming the person as actor or mentioning them in their detail. */
  function warehouseMatch(person: Person): PersonMatch {
    return {
      actors: lookupValues(person),
      mentions: [person.email, person.uid].filter((text): text is string => text !== null),
    };
  }

  async function warehouseEvents(person: Person): Promise<number> {
    const warehouse = await deps.warehouse();
    return warehouse ? warehouse.countPerson(warehouseMatch(person)) : 0;
  }

  return {
    async export(person) {
      // Records still staged would be missed: chain them first.
      await audit.drain({ untilEmpty: true, timeoutMs: 30_000 });
      const [documents, records, events] = await Promise.all([
        namingDocuments(person),
        auditRecordsAbout(person),
        warehouseEvents(person),
      ]);
      return {
        person,
        generated_at: deps.clock.now(),
        documents,
        audit_records: records,
        warehouse_events: events,
        not_covered: [...NOT_COVERED],
      };
    },

    async erase(person) {
      await audit.drain({ untilEmpty: true, timeoutMs: 30_000 });
      const pseudonym = await audit.pseudonymizer();
      const counts: ErasureResult["documents"] = {
        deployments: 0,
        job_runs: 0,
        job_state: 0,
        tuning_actions: 0,
        api_keys: 0,
        audit_log: 0,
      };
      for (const document of await namingDocuments(person)) {
        const update = Object.fromEntries(
          Object.entries(document.fields).map(([field, value]) => [field, pseudonym(value)]),
        );
        await db.collection(document.collection).doc(document.id).update(update);
        counts[document.collection as PersonCollection] += 1;
      }
      counts.audit_log = await audit.erasePersonal((record) => personalFieldsOf(person, record));
      const warehouse = await deps.warehouse();
      const match = warehouseMatch(person);
      const erasedEvents = warehouse
        ? await warehouse.erasePerson({
            ...match,
            pseudonyms: Object.fromEntries(match.actors.map((actor) => [actor, pseudonym(actor)])),
            erased_detail: ERASED_DETAIL,
          })
        : { updated: 0 };
      const verification = await audit.verify();
      return {
        pseudonym: pseudonym(person.email ?? person.uid ?? ""),
        documents: counts,
        warehouse_events: erasedEvents.updated,
        audit_chain: verification,
        not_covered: [...NOT_COVERED],
      };
    },
  };
}
