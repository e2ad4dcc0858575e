import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  allMethods,
  compileTemplate,
  loadDiscovery,
  type CompiledTemplate,
  type ContractRules,
  type DiscoveryDocument,
  type DiscoveryMethod,
} from "./discovery.js";
import { ApiError, faultError, type Fault } from "./resources.js";
import {
  camel,
  checkFieldMask,
  checkRules,
  checkText,
  checkValue,
  type ValidationOptions,
  type Violation,
} from "./validate.js";

const camelPath = (path: string): string => path.split(".").map(camel).join(".");

/** What a handler receives: the matched method, its path and query parameters, and the parsed body. */
export type ContractRequest = {
  methodId: string;
  params: Record<string, string>;
  query: Record<string, string | string[]>;
  body: unknown;
  headers: IncomingMessage["headers"];
};

/** What a handler answers (status defaults to 200). */
export type ContractReply = { status?: number; body?: unknown; headers?: Record<string, string> };

/** Behaviour for one method, supplied by a test; throw ApiError for an API error. */
export type Handler = (request: ContractRequest) => ContractReply | Promise<ContractReply>;

/**
 * Behaviour for a documented endpoint that is not a discovery method (Hosting's file upload URL):
 * it gets the raw body and the groups its path pattern captured.
 */
export type RawHandler = (request: {
  groups: string[];
  body: Buffer;
  headers: IncomingMessage["headers"];
}) => ContractReply | Promise<ContractReply>;

/** One request as received, with the server's verdict. */
export type RecordedRequest = {
  httpMethod: string;
  path: string;
  query: Record<string, string | string[]>;
  body: unknown;
  methodId: string | null;
  params: Record<string, string>;
  verdict: "accepted" | "refused" | "unmatched" | "faulted";
  status: number;
  violations: Violation[];
};

/** Query parameters every Google API takes with a `$` prefix too (system parameters). */
const SYSTEM_ALIASES = new Set(["alt", "fields", "key", "prettyPrint", "callback", "quotaUser"]);

/**
 * A local HTTP server that holds requests to a Google REST API against its discovery document:
 * each request is matched to a method, its path, query and body are checked, and a request that
 * breaks the contract is answered 400 with Google's error body naming the field. Valid requests go
 * to handlers a test registers; every request and verdict is recorded.
 */
export class ContractServer {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  private readonly templates: { path: CompiledTemplate; flat: CompiledTemplate | null }[];
  private readonly handlers = new Map<string, Handler>();
  private readonly faults: { methodId: string; fault: Fault; remaining: number }[] = [];
  private readonly rawRoutes: { id: string; httpMethod: string; pattern: RegExp; handler: RawHandler }[] = [];
  private server: Server | null = null;

  /** Builds a server for a parsed discovery document and its rules. */
  constructor(
    readonly document: DiscoveryDocument,
    readonly rules: ContractRules = { requiredFields: {}, oneOf: {} },
  ) {
    this.templates = allMethods(document).map((method) => ({
      path: compileTemplate(method, document.servicePath, method.path),
      flat: method.flatPath ? compileTemplate(method, document.servicePath, method.flatPath) : null,
    }));
  }

  /** A server for `contracts/discovery/<apiVersion>.json`, e.g. "cloudscheduler-v1". */
  static fromRepository(apiVersion: string): ContractServer {
    const { document, rules } = loadDiscovery(apiVersion);
    return new ContractServer(document, rules);
  }

  /** Registers the behaviour of one method (by its discovery id); unknown ids are refused. */
  on(methodId: string, handler: Handler): this {
    if (!this.templates.some((t) => t.path.method.id === methodId)) {
      throw new Error(`${this.document.id} has no method ${methodId}`);
    }
    this.handlers.set(methodId, handler);
    return this;
  }

  /**
   * Registers a documented endpoint outside the discovery document under an id of its own (faults
   * can be injected by that id); its handler checks the request itself.
   */
  onRaw(id: string, httpMethod: string, pattern: RegExp, handler: RawHandler): this {
    this.rawRoutes.push({ id, httpMethod: httpMethod.toUpperCase(), pattern, handler });
    return this;
  }

  /** Makes the next `times` valid calls of `methodId` ("*" for any) fail with `fault`. */
  inject(methodId: string, fault: Fault, times = 1): this {
    this.faults.push({ methodId, fault, remaining: times });
    return this;
  }

  /** The accepted calls as "methodId name" lines, for asserting an exact sequence. */
  calls(): string[] {
    return this.requests
      .filter((r) => r.verdict === "accepted" || r.verdict === "faulted")
      .map((r) => `${r.methodId ?? "?"} ${Object.values(r.params).join(" ")}`.trim());
  }

  /** Starts listening on 127.0.0.1 (an ephemeral port unless given); answers the base URL. */
  async start(port = 0): Promise<{ host: string; port: number; url: string }> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.setHeader("content-type", "application/json");
        const message = error instanceof Error ? error.message : String(error);
        res.end(JSON.stringify({ error: { code: 500, message, status: "INTERNAL" } }));
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    const address = server.address() as AddressInfo;
    return { host: "127.0.0.1", port: address.port, url: `http://127.0.0.1:${address.port}` };
  }

  /** Stops listening. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** Checks one request without a network round trip (the same verdict the HTTP path gives). */
  check(
    httpMethod: string,
    url: string,
    body: unknown,
  ): {
    method: DiscoveryMethod | null;
    params: Record<string, string>;
    violations: Violation[];
    query: Record<string, string | string[]>;
    numericEnums: boolean;
  } {
    const parsed = new URL(url, "http://contract.local");
    const query: Record<string, string | string[]> = {};
    for (const key of new Set(parsed.searchParams.keys())) {
      const values = parsed.searchParams.getAll(key);
      query[key] = values.length === 1 ? (values[0] ?? "") : values;
    }
    const matched = this.match(httpMethod, parsed.pathname);
    if (matched === null) return { method: null, params: {}, violations: [], query, numericEnums: false };
    const { method, params } = matched;
    const options: ValidationOptions = { numericEnums: false };
    const violations: Violation[] = [];
    violations.push(...this.checkPath(method, params));
    violations.push(...this.checkQuery(method, query, options));
    violations.push(...this.checkBody(method, body, options, query));
    return { method, params, violations, query, numericEnums: options.numericEnums };
  }

  private match(
    httpMethod: string,
    pathname: string,
  ): { method: DiscoveryMethod; params: Record<string, string> } | null {
    const candidates: { method: DiscoveryMethod; params: Record<string, string>; score: number }[] = [];
    for (const { path, flat } of this.templates) {
      if (path.method.httpMethod !== httpMethod.toUpperCase()) continue;
      const found = path.regex.exec(pathname);
      if (!found) continue;
      const params: Record<string, string> = {};
      path.names.forEach((name, index) => {
        params[name] = decodeURIComponent(found[index + 1] ?? "");
      });
      const patternsHold = Object.entries(params).every(([name, value]) => {
        const pattern = path.method.parameters[name]?.pattern;
        return pattern === undefined || new RegExp(pattern).test(value);
      });
      const flatHolds = flat !== null && flat.regex.test(pathname);
      candidates.push({
        method: path.method,
        params,
        score: (patternsHold ? 1_000_000 : 0) + (flatHolds ? 100_000 : 0) + path.literalLength,
      });
    }
    candidates.sort((a, b) => b.score - a.score);
    const best = candidates[0];
    return best ? { method: best.method, params: best.params } : null;
  }

  private checkPath(method: DiscoveryMethod, params: Record<string, string>): Violation[] {
    const out: Violation[] = [];
    for (const [name, value] of Object.entries(params)) {
      const declared = method.parameters[name];
      if (declared?.pattern !== undefined && !new RegExp(declared.pattern).test(value)) {
        out.push({ field: name, description: `"${value}" does not match the pattern ${declared.pattern}` });
      }
    }
    return out;
  }

  private checkQuery(
    method: DiscoveryMethod,
    query: Record<string, string | string[]>,
    options: ValidationOptions,
  ): Violation[] {
    const out: Violation[] = [];
    for (const [rawName, raw] of Object.entries(query)) {
      const system = rawName.startsWith("$") && SYSTEM_ALIASES.has(rawName.slice(1));
      const name = system ? rawName.slice(1) : rawName;
      if (name === "alt") {
        // gax's REST transport asks for `json;enum-encoding=int` (numeric enums in both directions)
        const [format, ...flags] = String(raw).split(";");
        const allowed = this.document.parameters.alt?.enum ?? ["json"];
        if (!allowed.includes(format ?? ""))
          out.push({ field: rawName, description: `"${format}" is not one of ${allowed.join(", ")}` });
        for (const flag of flags) {
          if (flag === "enum-encoding=int") options.numericEnums = true;
          else out.push({ field: rawName, description: `unknown ${rawName} option "${flag}"` });
        }
        continue;
      }
      const declared = method.parameters[name] ?? this.document.parameters[name];
      if (declared === undefined || (declared.location !== undefined && declared.location !== "query")) {
        out.push({ field: rawName, description: `unknown query parameter "${rawName}" for ${method.id}` });
        continue;
      }
      const values = Array.isArray(raw) ? raw : [raw];
      if (values.length > 1 && declared.repeated !== true) {
        out.push({
          field: name,
          description: `"${name}" is not repeated but was given ${values.length} times`,
        });
      }
      for (const value of values) {
        out.push(...checkText(name, declared, value, options));
        if (declared.format === "google-fieldmask") {
          const request = method.request ? { $ref: method.request.$ref } : undefined;
          out.push(...checkFieldMask(this.document, name, value, request));
        }
      }
    }
    for (const [name, declared] of Object.entries(method.parameters)) {
      if (declared.location === "query" && declared.required === true && query[name] === undefined) {
        out.push({ field: name, description: `required query parameter "${name}" is missing` });
      }
    }
    return out;
  }

  private checkBody(
    method: DiscoveryMethod,
    body: unknown,
    options: ValidationOptions,
    query: Record<string, string | string[]>,
  ): Violation[] {
    if (method.request === undefined) {
      return body === undefined ? [] : [{ field: "body", description: `${method.id} takes no request body` }];
    }
    if (body === undefined)
      return [{ field: "body", description: `${method.id} needs a ${method.request.$ref} body` }];
    const violations = checkValue(this.document, "", { $ref: method.request.$ref }, body, options);
    // With an update mask, only the masked fields are read, so "Required." applies to those alone.
    const masked = typeof query.updateMask === "string" ? query.updateMask.split(",").map(camelPath) : null;
    const relevant = masked
      ? violations.filter(
          (v) => !v.description.startsWith("required field") || masked.some((m) => v.field.startsWith(m)),
        )
      : violations;
    return [...relevant, ...checkRules(this.rules, method, body)];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const text = raw.toString("utf8");
    const url = req.url ?? "/";
    const record: RecordedRequest = {
      httpMethod: req.method ?? "GET",
      path: new URL(url, "http://contract.local").pathname,
      query: {},
      body: undefined,
      methodId: null,
      params: {},
      verdict: "refused",
      status: 400,
      violations: [],
    };
    this.requests.push(record);
    const rawRoute = this.rawRoutes.find(
      (route) => route.httpMethod === record.httpMethod && route.pattern.test(record.path),
    );
    if (rawRoute) return this.handleRaw(rawRoute, record, raw, req, res);
    let body: unknown = undefined;
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        record.violations = [{ field: "body", description: "the body is not valid JSON" }];
        return this.send(res, badRequest(record.violations));
      }
    }
    record.body = body;
    const verdict = this.check(record.httpMethod, url, body);
    record.query = verdict.query;
    record.params = verdict.params;
    if (verdict.method === null) {
      record.verdict = "unmatched";
      record.status = 404;
      return this.send(
        res,
        new ApiError(
          "NOT_FOUND",
          `${record.httpMethod} ${record.path} matches no method of ${this.document.id}`,
        ),
      );
    }
    record.methodId = verdict.method.id;
    if (verdict.violations.length > 0) {
      record.violations = verdict.violations;
      return this.send(res, badRequest(verdict.violations));
    }
    const fault = this.faults.find(
      (f) => (f.methodId === "*" || f.methodId === verdict.method?.id) && f.remaining > 0,
    );
    if (fault) {
      fault.remaining -= 1;
      const error = faultError(fault.fault, Object.values(verdict.params)[0] ?? record.path);
      record.verdict = "faulted";
      record.status = error.http;
      return this.send(res, error);
    }
    const handler = this.handlers.get(verdict.method.id);
    if (handler === undefined) {
      record.verdict = "accepted";
      record.status = 501;
      return this.send(res, new ApiError("INTERNAL", `no behaviour registered for ${verdict.method.id}`));
    }
    try {
      const reply = await handler({
        methodId: verdict.method.id,
        params: verdict.params,
        query: verdict.query,
        body,
        headers: req.headers,
      });
      record.verdict = "accepted";
      record.status = reply.status ?? 200;
      const responseRef = verdict.method.response?.$ref;
      if (responseRef && reply.body !== undefined) {
        // A handler that answers outside the contract is a test bug: say so loudly.
        const wrong = checkValue(this.document, "", { $ref: responseRef }, reply.body, {
          numericEnums: verdict.numericEnums,
        }).filter((v) => !v.description.startsWith("required field"));
        if (wrong.length > 0)
          throw new Error(
            `handler for ${verdict.method.id} answered outside ${responseRef}: ${wrong.map((w) => `${w.field}: ${w.description}`).join("; ")}`,
          );
      }
      res.statusCode = record.status;
      for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
      res.setHeader("content-type", "application/json; charset=UTF-8");
      res.end(JSON.stringify(reply.body ?? {}));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      record.verdict = "accepted";
      record.status = error.http;
      this.send(res, error);
    }
  }

  private async handleRaw(
    route: { id: string; pattern: RegExp; handler: RawHandler },
    record: RecordedRequest,
    body: Buffer,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    record.methodId = route.id;
    const groups = (route.pattern.exec(record.path) ?? []).slice(1).map((g) => decodeURIComponent(g));
    record.params = Object.fromEntries(groups.map((g, i) => [String(i), g]));
    const fault = this.faults.find((f) => (f.methodId === "*" || f.methodId === route.id) && f.remaining > 0);
    if (fault) {
      fault.remaining -= 1;
      const error = faultError(fault.fault, record.path);
      record.verdict = "faulted";
      record.status = error.http;
      return this.send(res, error);
    }
    try {
      const reply = await route.handler({ groups, body, headers: req.headers });
      record.verdict = "accepted";
      record.status = reply.status ?? 200;
      res.statusCode = record.status;
      for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
      res.setHeader("content-type", "application/json; charset=UTF-8");
      res.end(JSON.stringify(reply.body ?? {}));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      record.verdict = error.status === "INVALID_ARGUMENT" ? "refused" : "accepted";
      record.status = error.http;
      this.send(res, error);
    }
  }

  private send(res: ServerResponse, error: ApiError): void {
    res.statusCode = error.http;
    for (const [k, v] of Object.entries(error.headers)) res.setHeader(k, v);
    res.setHeader("content-type", "application/json; charset=UTF-8");
    res.end(JSON.stringify(error.body()));
  }
}

/** A 400 INVALID_ARGUMENT naming each offending field (google.rpc.BadRequest field violations). */
export function badRequest(violations: Violation[]): ApiError {
  const message = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  return new ApiError("INVALID_ARGUMENT", `Invalid request: ${message}`, [
    {
      "@type": "type.googleapis.com/google.rpc.BadRequest",
      fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })),
    },
  ]);
}
