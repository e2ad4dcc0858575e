import assert from "node:assert/strict";
import { coalesce, coalesceByKey } from "../../functions/src/store/coalesce.js";

/** A read whose answers the test releases by hand, recording when each read started. */
function controlledRead() {
  const started: { key: string; release: (value: string) => void; fail: (error: Error) => void }[] = [];
  const read = (key: string) =>
    new Promise<string>((resolve, reject) => {
      started.push({ key, release: resolve, fail: reject });
    });
  return { started, read };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("coalesced reads", () => {
  it("reads once per call when calls do not overlap (nothing is cached)", async () => {
    let reads = 0;
    const get = coalesce(() => Promise.resolve(++reads));
    assert.equal(await get(), 1);
    assert.equal(await get(), 2);
    assert.equal(await get(), 3);
  });

  it("gives callers who arrive during a read the next read, shared: two reads for eleven callers", async () => {
    const { started, read } = controlledRead();
    const get = coalesceByKey(read);
    const first = get("config");
    await tick();
    const late = Array.from({ length: 10 }, () => get("config"));
    await tick();
    assert.equal(started.length, 1, "the late callers do not join the read already in flight");
    started[0]!.release("v1");
    assert.equal(await first, "v1");
    await tick();
    assert.equal(started.length, 2, "one more read, started after the first settled");
    started[1]!.release("v2");
    assert.deepEqual(await Promise.all(late), Array(10).fill("v2"));
  });

  it("never answers a caller with a read that started before it asked", async () => {
    const { started, read } = controlledRead();
    const get = coalesceByKey(read);
    const asked: { at: number; answer: Promise<string> }[] = [];
    for (let call = 0; call < 6; call++) {
      asked.push({ at: started.length, answer: get("k") });
      await tick();
      if (call % 2 === 1) started.at(-1)!.release(`read ${started.length - 1}`);
      await tick();
    }
    for (const entry of started) entry.release(`read ${started.indexOf(entry)}`);
    for (const { at, answer } of asked) {
      const index = Number((await answer).split(" ")[1]);
      assert.ok(index >= at, `a caller that asked when ${at} read(s) had started got read ${index}`);
    }
  });

  it("shares a failure with that read's callers only; the next read goes on", async () => {
    const { started, read } = controlledRead();
    const get = coalesceByKey(read);
    const first = get("k");
    await tick();
    const second = get("k");
    started[0]!.fail(new Error("UNAVAILABLE"));
    await assert.rejects(first, /UNAVAILABLE/);
    await tick();
    started[1]!.release("after");
    assert.equal(await second, "after");
  });

  it("keeps keys apart", async () => {
    const { started, read } = controlledRead();
    const get = coalesceByKey(read);
    const a = get("a");
    const b = get("b");
    await tick();
    assert.deepEqual(
      started.map((entry) => entry.key),
      ["a", "b"],
    );
    started[0]!.release("A");
    started[1]!.release("B");
    assert.deepEqual(await Promise.all([a, b]), ["A", "B"]);
  });
});
