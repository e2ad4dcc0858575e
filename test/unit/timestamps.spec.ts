import assert from "node:assert/strict";
import { Timestamp as AdminTimestamp } from "firebase-admin/firestore";
import { Timestamp as WebTimestamp } from "firebase/firestore";
import { timestampsToDates } from "../../functions/src/domain/timestamps.js";

describe("timestampsToDates", () => {
  const at = new Date("2026-11-26T04:00:00.123Z");

  it("turns the Admin SDK's and the web SDK's Timestamps into Dates, however deep", () => {
    for (const Timestamp of [AdminTimestamp, WebTimestamp]) {
      const converted = timestampsToDates({
        created_at: Timestamp.fromDate(at),
        nested: { list: [Timestamp.fromDate(at), { deeper: Timestamp.fromDate(at) }] },
      });
      assert.deepEqual(converted, { created_at: at, nested: { list: [at, { deeper: at }] } });
    }
  });

  it("leaves everything else as it is", () => {
    const value = { n: 1, s: "x", none: null, date: at, list: [true, "y"] };
    assert.deepEqual(timestampsToDates(value), value);
    assert.equal(timestampsToDates(undefined), undefined);
  });
});
