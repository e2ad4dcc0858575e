/** A Firestore collection whose documents are validated by a zod schema on every read and write. */
import {
  type CollectionReference,
  type DocumentData,
  type Firestore,
  type QueryDocumentSnapshot,
} from "firebase-admin/firestore";
import type { z } from "zod";
import { CorruptDocumentError } from "../domain/errors.js";
import { zodIssueToProblem } from "../domain/problems.js";
import { timestampsToDates } from "../domain/timestamps.js";

/** Validates raw document data against a schema, naming the document and field on failure. */
export function parseDocument<S extends z.ZodType>(
  schema: S,
  documentPath: string,
  data: unknown,
): z.infer<S> {
  const plain = timestampsToDates(data);
  const parsed = schema.safeParse(plain);
  if (!parsed.success) {
    throw new CorruptDocumentError(
      documentPath,
      parsed.error.issues.map((issue) => zodIssueToProblem(issue, plain, schema)),
    );
  }
  return parsed.data;
}

/** A collection reference whose reads and writes go through the schema. */
export function typedCollection<S extends z.ZodType<DocumentData>>(
  db: Firestore,
  name: string,
  schema: S,
): CollectionReference<z.infer<S>> {
  return db.collection(name).withConverter<z.infer<S>>({
    toFirestore(doc) {
      return parseDocument(schema, `${name}/(new)`, doc);
    },
    fromFirestore(snapshot: QueryDocumentSnapshot) {
      return parseDocument(schema, snapshot.ref.path, snapshot.data());
    },
  });
}
