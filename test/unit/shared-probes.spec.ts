import assert from "node:assert/strict";
import { sharingGets } from "../../functions/src/drivers/fabricator.js";

describe("probes of one environment share their GETs", () => {
  const counting = () => {
    const sent: string[] = [];
    const send = ((input: string, init?: RequestInit) => {
      sent.push(`${init?.method ?? "GET"} ${input}`);
      return Promise.resolve(new Response(JSON.stringify({ n: sent.length })));
    }) as typeof fetch;
    return { sent, fetch: sharingGets(send) };
  };

  it("sends one GET for callers of the same URL, and each reads the whole answer", async () => {
    const { sent, fetch } = counting();
    const answers = await Promise.all([
      fetch("http://emulator/rules", { method: "GET", headers: {} }),
      fetch("http://emulator/rules", { method: "GET", headers: {} }),
      fetch("http://emulator/rules"),
    ]);
    assert.deepEqual(sent, ["GET http://emulator/rules"]);
    assert.deepEqual(await Promise.all(answers.map((answer) => answer.json())), [
      { n: 1 },
      { n: 1 },
      { n: 1 },
    ]);
  });

  it("sends writes, other URLs and other headers each on their own", async () => {
    const { sent, fetch } = counting();
    await fetch("http://emulator/topics", { method: "POST", body: "{}" });
    await fetch("http://emulator/topics", { method: "POST", body: "{}" });
    await fetch("http://emulator/topics");
    await fetch("http://emulator/subscriptions");
    await fetch("http://emulator/subscriptions", { headers: { authorization: "Bearer owner" } });
    assert.deepEqual(sent, [
      "POST http://emulator/topics",
      "POST http://emulator/topics",
      "GET http://emulator/topics",
      "GET http://emulator/subscriptions",
      "GET http://emulator/subscriptions",
    ]);
  });

  it("gives every caller the failure of a GET that failed", async () => {
    let calls = 0;
    const fetch = sharingGets(() => {
      calls += 1;
      return Promise.reject(new Error("connection refused"));
    });
    const results = await Promise.allSettled([fetch("http://emulator/a"), fetch("http://emulator/a")]);
    assert.equal(calls, 1);
    assert.deepEqual(
      results.map((result) => result.status === "rejected" && (result.reason as Error).message),
      ["connection refused", "connection refused"],
    );
  });
});
