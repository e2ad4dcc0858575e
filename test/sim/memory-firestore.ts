/**
 * An in-memory Firestore: the subset of firebase-admin's API that the engine path uses, with
 * Firestore's semantics where the engine depends on them. Transactions are serializable and
 * all-or-nothing (modelled optimistically: the versions read are checked at commit, and a
 * conflict reruns the function, at most `maxAttempts` times, then ABORTED); reads after a write
 * in a transaction are refused; `create()` fails with ALREADY_EXISTS (code 6); converters run on
 * read and write; Dates are stored as Timestamps; values are deep-copied in and out. Every I/O
 * call awaits `hooks.point(label)` first, so a scheduler decides when it happens (and may crash
 * the caller there), and every commit reports its changed documents, so triggers can be delivered.
 */
import { FieldPath, FieldValue, Timestamp, type Firestore } from "firebase-admin/firestore";

/** Raw document data as stored (Timestamps, not Dates). */
export type Data = Record<string, unknown>;

/** One changed document of a commit: what a Firestore trigger receives. */
export interface DocChange {
  path: string;
  collection: string;
  id: string;
  before: Data | undefined;
  after: Data | undefined;
}

/** Where the store hands control to a scheduler: before every read and commit, and after every commit. */
export interface StoreHooks {
  point(label: string): Promise<void>;
}

/** An error shaped as the SDK's: a gRPC status code and a message. */
export class FirestoreError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const ALREADY_EXISTS = 6;
const NOT_FOUND = 5;
const ABORTED = 10;
const INVALID_ARGUMENT = 3;
/** gRPC codes the SDK retries a transaction on: CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE, UNAUTHENTICATED. */
const RETRYABLE = new Set([1, 2, 4, 8, 10, 13, 14, 16]);

interface Stored {
  data: Data;
  version: number;
  createTime: Timestamp;
  updateTime: Timestamp;
}

interface Converter<T> {
  toFirestore(value: T): Data;
  fromFirestore(snapshot: MemoryDocumentSnapshot<Data>): T;
}

type Write =
  | { kind: "set"; path: string; data: Data; merge: boolean }
  | { kind: "create"; path: string; data: Data }
  | { kind: "update"; path: string; data: Data }
  | { kind: "delete"; path: string };

/** A copy of a value as Firestore stores it: Dates become Timestamps; undefined is refused as the SDK does. */
function toStored(value: unknown, field: string): unknown {
  if (value === undefined)
    throw new FirestoreError(
      INVALID_ARGUMENT,
      `Cannot use "undefined" as a Firestore value (found in field "${field}")`,
    );
  if (value === null || typeof value !== "object") {
    if (typeof value === "function" || typeof value === "symbol" || typeof value === "bigint")
      throw new FirestoreError(INVALID_ARGUMENT, `unsupported value in field "${field}"`);
    return value;
  }
  if (value instanceof Date) return Timestamp.fromDate(value);
  if (value instanceof Timestamp) return new Timestamp(value.seconds, value.nanoseconds);
  if (value instanceof FieldValue) {
    if (value.isEqual(FieldValue.serverTimestamp())) return value;
    if (value.isEqual(FieldValue.delete())) return value;
    throw new FirestoreError(
      INVALID_ARGUMENT,
      `the memory store does not support this FieldValue ("${field}")`,
    );
  }
  if (Array.isArray(value)) return value.map((item, index) => toStored(item, `${field}[${index}]`));
  if (Object.getPrototypeOf(value) !== Object.prototype)
    throw new FirestoreError(INVALID_ARGUMENT, `a custom object is not a Firestore value ("${field}")`);
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key, toStored(inner, field ? `${field}.${key}` : key)]),
  );
}

/** A deep copy of stored data, so callers never share the store's objects. */
export function copy<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Timestamp) return new Timestamp(value.seconds, value.nanoseconds) as T;
  if (Array.isArray(value)) return value.map(copy) as T;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, copy(inner)])) as T;
}

/** Replaces the write sentinels with what they stand for at commit time. */
function resolveSentinels(data: Data, now: Timestamp): Data {
  const out: Data = {};
  for (const [key, value] of Object.entries(data)) {
    if (value instanceof FieldValue) {
      if (value.isEqual(FieldValue.serverTimestamp())) out[key] = now;
      continue; // FieldValue.delete(): the field is dropped
    }
    out[key] =
      value !== null && typeof value === "object" && !(value instanceof Timestamp) && !Array.isArray(value)
        ? resolveSentinels(value as Data, now)
        : value;
  }
  return out;
}

function fieldOf(data: Data, path: string): unknown {
  let current: unknown = data;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) return undefined;
    current = (current as Data)[part];
  }
  return current;
}

/** Firestore's cross-type order: null, booleans, numbers, timestamps, strings, then the rest. */
function typeRank(value: unknown): number {
  if (value === null) return 0;
  if (typeof value === "boolean") return 1;
  if (typeof value === "number") return 2;
  if (value instanceof Timestamp) return 3;
  if (typeof value === "string") return 4;
  if (Array.isArray(value)) return 6;
  return 7;
}

function compareValues(a: unknown, b: unknown): number {
  const rank = typeRank(a) - typeRank(b);
  if (rank !== 0) return rank;
  if (a instanceof Timestamp && b instanceof Timestamp)
    return a.seconds - b.seconds || a.nanoseconds - b.nanoseconds;
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let index = 0; index < Math.min(a.length, b.length); index++) {
      const inner = compareValues(a[index], b[index]);
      if (inner !== 0) return inner;
    }
    return a.length - b.length;
  }
  return JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0;
}

const equal = (a: unknown, b: unknown) => typeRank(a) === typeRank(b) && compareValues(a, b) === 0;

type Op = "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not-in" | "array-contains" | "array-contains-any";

interface Filter {
  field: string;
  op: Op;
  value: unknown;
}

const DOCUMENT_ID = "__name__";

function fieldName(field: string | FieldPath): string {
  if (typeof field === "string") return field;
  if (field.isEqual(FieldPath.documentId())) return DOCUMENT_ID;
  throw new FirestoreError(INVALID_ARGUMENT, "the memory store supports FieldPath.documentId() only");
}

function matches(id: string, data: Data, filter: Filter): boolean {
  const value = filter.field === DOCUMENT_ID ? id : fieldOf(data, filter.field);
  if (value === undefined) return false;
  const list = Array.isArray(filter.value) ? filter.value : [];
  switch (filter.op) {
    case "==":
      return equal(value, filter.value);
    case "!=":
      return value !== null && !equal(value, filter.value);
    case "<":
      return typeRank(value) === typeRank(filter.value) && compareValues(value, filter.value) < 0;
    case "<=":
      return typeRank(value) === typeRank(filter.value) && compareValues(value, filter.value) <= 0;
    case ">":
      return typeRank(value) === typeRank(filter.value) && compareValues(value, filter.value) > 0;
    case ">=":
      return typeRank(value) === typeRank(filter.value) && compareValues(value, filter.value) >= 0;
    case "in":
      return list.some((item) => equal(value, item));
    case "not-in":
      return value !== null && !list.some((item) => equal(value, item));
    case "array-contains":
      return Array.isArray(value) && value.some((item) => equal(item, filter.value));
    case "array-contains-any":
      return Array.isArray(value) && value.some((item) => list.some((wanted) => equal(item, wanted)));
  }
}

/** A document snapshot; `data()` applies the reference's converter. */
export class MemoryDocumentSnapshot<T = Data> {
  constructor(
    readonly ref: MemoryDocumentReference<T>,
    private readonly stored: Stored | undefined,
  ) {}
  get id(): string {
    return this.ref.id;
  }
  get exists(): boolean {
    return this.stored !== undefined;
  }
  get createTime(): Timestamp | undefined {
    return this.stored?.createTime;
  }
  get updateTime(): Timestamp | undefined {
    return this.stored?.updateTime;
  }
  data(): T | undefined {
    if (!this.stored) return undefined;
    const converter = this.ref.converter;
    if (!converter) return copy(this.stored.data) as T;
    const raw = new MemoryDocumentSnapshot<Data>(this.ref.withConverter(null), this.stored);
    return converter.fromFirestore(raw);
  }
  get(field: string): unknown {
    return this.stored ? copy(fieldOf(this.stored.data, field)) : undefined;
  }
}

/** A query's answer. */
export class MemoryQuerySnapshot<T> {
  constructor(readonly docs: MemoryDocumentSnapshot<T>[]) {}
  get empty(): boolean {
    return this.docs.length === 0;
  }
  get size(): number {
    return this.docs.length;
  }
  forEach(callback: (doc: MemoryDocumentSnapshot<T>) => void): void {
    this.docs.forEach(callback);
  }
}

/** A reference to one document. */
export class MemoryDocumentReference<T = Data> {
  constructor(
    readonly db: MemoryFirestore,
    readonly path: string,
    readonly converter: Converter<T> | null,
  ) {}
  get id(): string {
    return this.path.slice(this.path.lastIndexOf("/") + 1);
  }
  get parent(): MemoryCollectionReference<T> {
    return new MemoryCollectionReference<T>(
      this.db,
      this.path.slice(0, this.path.lastIndexOf("/")),
      this.converter,
    );
  }
  withConverter<U>(converter: Converter<U> | null): MemoryDocumentReference<U> {
    return new MemoryDocumentReference<U>(this.db, this.path, converter);
  }
  collection(name: string): MemoryCollectionReference<Data> {
    return new MemoryCollectionReference<Data>(this.db, `${this.path}/${name}`, null);
  }
  isEqual(other: MemoryDocumentReference<unknown>): boolean {
    return other.path === this.path;
  }
  /** The data to store for a set or create, through the converter. */
  encode(value: T): Data {
    const data = this.converter ? this.converter.toFirestore(value) : (value as Data);
    return toStored(data, "") as Data;
  }
  async get(): Promise<MemoryDocumentSnapshot<T>> {
    await this.db.hooks.point(`get ${this.path}`);
    return this.db.snapshot(this);
  }
  async set(value: T, options?: { merge?: boolean }): Promise<void> {
    await this.db.commitWrites([
      { kind: "set", path: this.path, data: this.encode(value), merge: !!options?.merge },
    ]);
  }
  async create(value: T): Promise<void> {
    await this.db.commitWrites([{ kind: "create", path: this.path, data: this.encode(value) }]);
  }
  async update(fields: Data): Promise<void> {
    await this.db.commitWrites([{ kind: "update", path: this.path, data: toStored(fields, "") as Data }]);
  }
  async delete(): Promise<void> {
    await this.db.commitWrites([{ kind: "delete", path: this.path }]);
  }
}

interface QueryShape {
  filters: Filter[];
  orders: { field: string; direction: "asc" | "desc" }[];
  limit: number | null;
  start: { values: unknown[]; inclusive: boolean } | null;
}

/** A query over one collection. */
export class MemoryQuery<T = Data> {
  constructor(
    readonly db: MemoryFirestore,
    readonly collectionPath: string,
    readonly converter: Converter<T> | null,
    readonly shape: QueryShape = { filters: [], orders: [], limit: null, start: null },
  ) {}
  private with(change: Partial<QueryShape>): MemoryQuery<T> {
    return new MemoryQuery<T>(this.db, this.collectionPath, this.converter, { ...this.shape, ...change });
  }
  where(field: string | FieldPath, op: Op, value: unknown): MemoryQuery<T> {
    const stored = field === DOCUMENT_ID ? value : toStored(value, fieldName(field));
    return this.with({ filters: [...this.shape.filters, { field: fieldName(field), op, value: stored }] });
  }
  orderBy(field: string | FieldPath, direction: "asc" | "desc" = "asc"): MemoryQuery<T> {
    return this.with({ orders: [...this.shape.orders, { field: fieldName(field), direction }] });
  }
  limit(count: number): MemoryQuery<T> {
    return this.with({ limit: count });
  }
  startAt(...values: unknown[]): MemoryQuery<T> {
    return this.with({ start: { values, inclusive: true } });
  }
  startAfter(...values: unknown[]): MemoryQuery<T> {
    return this.with({ start: { values, inclusive: false } });
  }
  withConverter<U>(converter: Converter<U> | null): MemoryQuery<U> {
    return new MemoryQuery<U>(this.db, this.collectionPath, converter, this.shape);
  }
  count(): { get(): Promise<{ data(): { count: number } }> } {
    return {
      get: async () => {
        await this.db.hooks.point(`count ${this.collectionPath}`);
        const count = this.db.evaluate(this).length;
        return { data: () => ({ count }) };
      },
    };
  }
  async get(): Promise<MemoryQuerySnapshot<T>> {
    await this.db.hooks.point(`query ${this.collectionPath}`);
    return this.db.querySnapshot(this);
  }
}

/** A collection: a query over all its documents, and the place to name them. */
export class MemoryCollectionReference<T = Data> extends MemoryQuery<T> {
  get id(): string {
    return this.collectionPath.slice(this.collectionPath.lastIndexOf("/") + 1);
  }
  get path(): string {
    return this.collectionPath;
  }
  doc(id?: string): MemoryDocumentReference<T> {
    return new MemoryDocumentReference<T>(
      this.db,
      `${this.collectionPath}/${id ?? this.db.autoId()}`,
      this.converter,
    );
  }
  override withConverter<U>(converter: Converter<U> | null): MemoryCollectionReference<U> {
    return new MemoryCollectionReference<U>(this.db, this.collectionPath, converter);
  }
  async add(value: T): Promise<MemoryDocumentReference<T>> {
    const ref = this.doc();
    await ref.create(value);
    return ref;
  }
}

/** What a transaction read: document versions (0 when absent) and query answers, checked at commit. */
interface ReadSet {
  docs: Map<string, number>;
  queries: { query: MemoryQuery<unknown>; signature: string }[];
}

class Conflict extends Error {}

/** A transaction: reads first, then buffered writes applied at commit if nothing read has changed. */
export class MemoryTransaction {
  readonly writes: Write[] = [];
  readonly reads: ReadSet = { docs: new Map(), queries: [] };
  constructor(
    private readonly db: MemoryFirestore,
    private readonly readOnly: boolean,
  ) {}
  private beforeRead(): void {
    if (this.writes.length > 0)
      throw new FirestoreError(
        INVALID_ARGUMENT,
        "Firestore transactions require all reads to be executed before all writes.",
      );
  }
  private beforeWrite(): void {
    if (this.readOnly) throw new FirestoreError(INVALID_ARGUMENT, "a read-only transaction cannot write");
  }
  private track<T>(snapshot: MemoryDocumentSnapshot<T>): MemoryDocumentSnapshot<T> {
    this.reads.docs.set(snapshot.ref.path, this.db.versionOf(snapshot.ref.path));
    return snapshot;
  }
  async get<T>(target: MemoryDocumentReference<T>): Promise<MemoryDocumentSnapshot<T>>;
  async get<T>(target: MemoryQuery<T>): Promise<MemoryQuerySnapshot<T>>;
  async get<T>(
    target: MemoryDocumentReference<T> | MemoryQuery<T>,
  ): Promise<MemoryDocumentSnapshot<T> | MemoryQuerySnapshot<T>> {
    this.beforeRead();
    if (target instanceof MemoryDocumentReference) {
      await this.db.hooks.point(`tx.get ${target.path}`);
      return this.track(this.db.snapshot(target));
    }
    await this.db.hooks.point(`tx.query ${target.collectionPath}`);
    const snapshot = this.db.querySnapshot(target);
    this.reads.queries.push({ query: target, signature: this.db.signature(target) });
    for (const doc of snapshot.docs) this.track(doc);
    return snapshot;
  }
  async getAll<T>(...refs: (MemoryDocumentReference<T> | object)[]): Promise<MemoryDocumentSnapshot<T>[]> {
    this.beforeRead();
    const docs = refs.filter(
      (ref): ref is MemoryDocumentReference<T> => ref instanceof MemoryDocumentReference,
    );
    if (docs.length === 0)
      throw new FirestoreError(
        INVALID_ARGUMENT,
        'Function "Transaction.getAll()" requires at least 1 argument.',
      );
    await this.db.hooks.point(`tx.getAll ${docs.map((ref) => ref.path).join(",")}`);
    return docs.map((ref) => this.track(this.db.snapshot(ref)));
  }
  set<T>(ref: MemoryDocumentReference<T>, value: T, options?: { merge?: boolean }): this {
    this.beforeWrite();
    this.writes.push({ kind: "set", path: ref.path, data: ref.encode(value), merge: !!options?.merge });
    return this;
  }
  create<T>(ref: MemoryDocumentReference<T>, value: T): this {
    this.beforeWrite();
    this.writes.push({ kind: "create", path: ref.path, data: ref.encode(value) });
    return this;
  }
  update<T>(ref: MemoryDocumentReference<T>, fields: Data): this {
    this.beforeWrite();
    this.writes.push({ kind: "update", path: ref.path, data: toStored(fields, "") as Data });
    return this;
  }
  delete<T>(ref: MemoryDocumentReference<T>): this {
    this.beforeWrite();
    this.writes.push({ kind: "delete", path: ref.path });
    return this;
  }
}

/** A write batch: one atomic commit, no reads. */
export class MemoryWriteBatch {
  private readonly writes: Write[] = [];
  constructor(private readonly db: MemoryFirestore) {}
  set<T>(ref: MemoryDocumentReference<T>, value: T, options?: { merge?: boolean }): this {
    this.writes.push({ kind: "set", path: ref.path, data: ref.encode(value), merge: !!options?.merge });
    return this;
  }
  create<T>(ref: MemoryDocumentReference<T>, value: T): this {
    this.writes.push({ kind: "create", path: ref.path, data: ref.encode(value) });
    return this;
  }
  update<T>(ref: MemoryDocumentReference<T>, fields: Data): this {
    this.writes.push({ kind: "update", path: ref.path, data: toStored(fields, "") as Data });
    return this;
  }
  delete<T>(ref: MemoryDocumentReference<T>): this {
    this.writes.push({ kind: "delete", path: ref.path });
    return this;
  }
  async commit(): Promise<void> {
    await this.db.commitWrites(this.writes);
  }
}

/** The in-memory database. Cast it to firebase-admin's `Firestore` with {@link asFirestore}. */
export class MemoryFirestore {
  private readonly docs = new Map<string, Stored>();
  private readonly listeners: ((changes: DocChange[]) => void)[] = [];
  private version = 0;
  private ids = 0;
  /** Commits applied so far; transactions rerun on conflict. */
  readonly stats = { commits: 0, conflicts: 0, aborted: 0 };

  constructor(
    readonly hooks: StoreHooks,
    private readonly now: () => Date,
  ) {}

  /** Calls `listener` with the changed documents of every commit, as it is applied. */
  onCommit(listener: (changes: DocChange[]) => void): void {
    this.listeners.push(listener);
  }

  collection(path: string): MemoryCollectionReference<Data> {
    return new MemoryCollectionReference<Data>(this, path, null);
  }

  doc(path: string): MemoryDocumentReference<Data> {
    return new MemoryDocumentReference<Data>(this, path, null);
  }

  batch(): MemoryWriteBatch {
    return new MemoryWriteBatch(this);
  }

  async getAll<T>(...refs: (MemoryDocumentReference<T> | object)[]): Promise<MemoryDocumentSnapshot<T>[]> {
    const docs = refs.filter(
      (ref): ref is MemoryDocumentReference<T> => ref instanceof MemoryDocumentReference,
    );
    if (docs.length === 0)
      throw new FirestoreError(
        INVALID_ARGUMENT,
        'Function "Firestore.getAll()" requires at least 1 argument.',
      );
    await this.hooks.point(`getAll ${docs.map((ref) => ref.path).join(",")}`);
    return docs.map((ref) => this.snapshot(ref));
  }

  /** Runs `fn` as a transaction: rerun on conflict, up to `maxAttempts` (5, as the SDK) then ABORTED. */
  async runTransaction<R>(
    fn: (tx: MemoryTransaction) => Promise<R>,
    options?: { maxAttempts?: number; readOnly?: boolean },
  ): Promise<R> {
    const maxAttempts = options?.maxAttempts ?? 5;
    let last: Error | undefined;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const tx = new MemoryTransaction(this, !!options?.readOnly);
      try {
        const result = await fn(tx);
        await this.commitWrites(tx.writes, tx.reads);
        return result;
      } catch (error) {
        // As the SDK: a conflict or a retryable gRPC error (from a read or the commit) reruns the function.
        const retryable =
          error instanceof Conflict || (error instanceof FirestoreError && RETRYABLE.has(error.code));
        if (!retryable) throw error;
        if (error instanceof Conflict) this.stats.conflicts += 1;
        last = error;
        await this.hooks.point(`tx.retry ${attempt}`);
      }
    }
    this.stats.aborted += 1;
    if (last instanceof FirestoreError) throw last;
    throw new FirestoreError(ABORTED, `Transaction failed after ${maxAttempts} attempts (contention).`);
  }

  /** A fresh document id, deterministic per store. */
  autoId(): string {
    this.ids += 1;
    return `auto${String(this.ids).padStart(8, "0")}`;
  }

  /** The stored version of a document: 0 when it does not exist. */
  versionOf(path: string): number {
    return this.docs.get(path)?.version ?? 0;
  }

  snapshot<T>(ref: MemoryDocumentReference<T>): MemoryDocumentSnapshot<T> {
    return new MemoryDocumentSnapshot<T>(ref, this.docs.get(ref.path));
  }

  /** The documents a query selects, in its order (document id breaks ties, in the last order's direction). */
  evaluate(query: MemoryQuery<unknown>): [string, Stored][] {
    const prefix = `${query.collectionPath}/`;
    const { filters, orders, limit, start } = query.shape;
    let rows = [...this.docs.entries()].filter(([path]) => {
      if (!path.startsWith(prefix)) return false;
      return !path.slice(prefix.length).includes("/");
    });
    const idOf = (path: string) => path.slice(prefix.length);
    rows = rows.filter(([path, stored]) =>
      filters.every((filter) => matches(idOf(path), stored.data, filter)),
    );
    rows = rows.filter(([, stored]) =>
      orders.every((order) => order.field === DOCUMENT_ID || fieldOf(stored.data, order.field) !== undefined),
    );
    const keyOf = (path: string, stored: Stored, field: string) =>
      field === DOCUMENT_ID ? idOf(path) : fieldOf(stored.data, field);
    const lastDirection = orders.at(-1)?.direction ?? "asc";
    const fullOrder = orders.some((order) => order.field === DOCUMENT_ID)
      ? orders
      : [...orders, { field: DOCUMENT_ID, direction: lastDirection }];
    rows.sort(([pathA, a], [pathB, b]) => {
      for (const order of fullOrder) {
        const compared = compareValues(keyOf(pathA, a, order.field), keyOf(pathB, b, order.field));
        if (compared !== 0) return order.direction === "asc" ? compared : -compared;
      }
      return 0;
    });
    if (start) {
      rows = rows.filter(([path, stored]) => {
        for (const [index, value] of start.values.entries()) {
          const order = fullOrder[index];
          if (!order) break;
          const compared = compareValues(keyOf(path, stored, order.field), toStored(value, order.field));
          const directed = order.direction === "asc" ? compared : -compared;
          if (directed !== 0) return directed > 0;
        }
        return start.inclusive;
      });
    }
    return limit === null ? rows : rows.slice(0, limit);
  }

  querySnapshot<T>(query: MemoryQuery<T>): MemoryQuerySnapshot<T> {
    const rows = this.evaluate(query);
    return new MemoryQuerySnapshot<T>(
      rows.map(
        ([path, stored]) =>
          new MemoryDocumentSnapshot<T>(new MemoryDocumentReference<T>(this, path, query.converter), stored),
      ),
    );
  }

  /** What a query answered, by paths and versions: a transaction conflicts when it changes (phantoms included). */
  signature(query: MemoryQuery<unknown>): string {
    return this.evaluate(query)
      .map(([path, stored]) => `${path}@${stored.version}`)
      .join("|");
  }

  /**
   * Validates the reads and applies the writes as one atomic commit. The scheduler may crash the
   * caller before the commit (nothing written) or after it (written, the caller never learns).
   */
  async commitWrites(writes: readonly Write[], reads?: ReadSet): Promise<void> {
    if (writes.length === 0 && !reads) return;
    await this.hooks.point(
      `commit ${writes.map((write) => `${write.kind} ${write.path}`).join(", ") || "(read-only)"}`,
    );
    if (reads) {
      for (const [path, version] of reads.docs)
        if (this.versionOf(path) !== version) throw new Conflict(path);
      for (const { query, signature } of reads.queries)
        if (this.signature(query) !== signature) throw new Conflict(query.collectionPath);
    }
    if (writes.length === 0) return;
    const now = Timestamp.fromDate(this.now());
    const staged = new Map<string, Stored | undefined>();
    const current = (path: string) => (staged.has(path) ? staged.get(path) : this.docs.get(path));
    this.version += 1;
    for (const write of writes) {
      const existing = current(write.path);
      const stamp = (data: Data): Stored => ({
        data: resolveSentinels(data, now),
        version: this.version,
        createTime: existing?.createTime ?? now,
        updateTime: now,
      });
      switch (write.kind) {
        case "create":
          if (existing)
            throw new FirestoreError(
              ALREADY_EXISTS,
              `6 ALREADY_EXISTS: Document already exists: ${write.path}`,
            );
          staged.set(write.path, stamp(copy(write.data)));
          break;
        case "set":
          staged.set(
            write.path,
            stamp(
              write.merge && existing ? { ...copy(existing.data), ...copy(write.data) } : copy(write.data),
            ),
          );
          break;
        case "update": {
          if (!existing)
            throw new FirestoreError(NOT_FOUND, `5 NOT_FOUND: No document to update: ${write.path}`);
          const data = copy(existing.data);
          for (const [key, value] of Object.entries(copy(write.data))) {
            const parts = key.split(".");
            let target = data;
            for (const part of parts.slice(0, -1)) {
              const next = target[part];
              target =
                next !== null && typeof next === "object" && !Array.isArray(next)
                  ? (next as Data)
                  : (target[part] = {});
            }
            target[parts.at(-1)!] = value;
          }
          staged.set(write.path, stamp(data));
          break;
        }
        case "delete":
          staged.set(write.path, undefined);
          break;
      }
    }
    const changes: DocChange[] = [];
    for (const [path, after] of staged) {
      const before = this.docs.get(path);
      if (after) this.docs.set(path, after);
      else this.docs.delete(path);
      if (!before && !after) continue;
      const slash = path.lastIndexOf("/");
      changes.push({
        path,
        collection: path.slice(0, slash),
        id: path.slice(slash + 1),
        before: before && copy(before.data),
        after: after && copy(after.data),
      });
    }
    this.stats.commits += 1;
    for (const listener of this.listeners) listener(changes);
    await this.hooks.point(`committed ${writes.length} write(s)`);
  }

  /** A document's raw data, read without a scheduling point: for invariant checks only. */
  peek(path: string): Data | undefined {
    const stored = this.docs.get(path);
    return stored && copy(stored.data);
  }

  /** Every document of a collection, raw, without a scheduling point: for invariant checks only. */
  list(collection: string): { id: string; data: Data }[] {
    const prefix = `${collection}/`;
    return [...this.docs.entries()]
      .filter(([path]) => path.startsWith(prefix) && !path.slice(prefix.length).includes("/"))
      .map(([path, stored]) => ({ id: path.slice(prefix.length), data: copy(stored.data) }));
  }
}

/**
 * The memory store as firebase-admin's `Firestore`. One cast, here: the engine is typed against
 * the SDK's classes (with private fields no other class can match), while it only calls the
 * subset this module implements; every call outside that subset fails loudly at runtime.
 */
export function asFirestore(db: MemoryFirestore): Firestore {
  return db as unknown as Firestore;
}
