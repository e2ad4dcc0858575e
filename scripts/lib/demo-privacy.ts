/**
 * The demo's personal-data step (issue 18): an admin exports what the control plane holds about
 * the demo's viewer, erases it, and the audit chain still verifies while a second export finds
 * nothing. One outcome line through `say`; details go to the log.
 */
type Call = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> }>;

interface Exported {
  documents: { collection: string; id: string }[];
  audit_records: { seq: number; action: string }[];
  warehouse_events: number;
}
interface Erased {
  pseudonym: string;
  documents: Record<string, number>;
  warehouse_events: number;
  audit_chain: { ok: boolean; count?: number; message?: string };
}

/** Runs the step; true when the person was found, erased, the chain verified and nothing is left. */
export async function demoPrivacy(
  call: Call,
  heading: (text: string) => void,
  say: (line: string) => void,
  email: string,
): Promise<boolean> {
  heading(`A person's data: export, then erasure of ${email} (the audit chain still verifies)`);
  const exported = await call("POST", "/privacy/export", { email });
  const before = exported.body as unknown as Exported;
  console.log(`POST /privacy/export {email: ${email}} -> ${exported.status}`);
  for (const record of before.audit_records ?? []) console.log(`  audit #${record.seq} ${record.action}`);
  const erasure = await call("POST", "/privacy/erase", { email });
  const erased = erasure.body as unknown as Erased;
  console.log(`POST /privacy/erase {email: ${email}} -> ${erasure.status} ${JSON.stringify(erased)}`);
  const again = (await call("POST", "/privacy/export", { email })).body as unknown as Exported;
  const left =
    (again.documents?.length ?? -1) + (again.audit_records?.length ?? -1) + (again.warehouse_events ?? -1);
  const audited = erased.documents?.audit_log ?? 0;
  say(
    `export: ${before.documents?.length ?? 0} document(s), ${before.audit_records?.length ?? 0} audit record(s), ${before.warehouse_events ?? 0} warehouse event(s); erased as ${String(erased.pseudonym).slice(0, 22)}...; chain ${erased.audit_chain?.ok ? `verified (${erased.audit_chain.count} records)` : `NOT verified: ${erased.audit_chain?.message}`}; a second export finds ${left}`,
  );
  return (
    exported.status === 200 &&
    erasure.status === 200 &&
    audited > 0 &&
    erased.audit_chain?.ok === true &&
    left === 0
  );
}
