// Benchmark-only function (codebase "bench"): the hops that `npm run bench` compares the engine
// against. Loaded only into the bench stack (scripts/bench.ts adds this codebase to its generated
// firebase config); never part of the deployable control plane.
import { initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { onMessagePublished } from "firebase-functions/v2/pubsub";

initializeApp();

/**
 * One hop: publish to Pub/Sub -> this Pub/Sub-triggered function, invoked once -> Firestore.
 *
 * The raw hop (message { id, run }): one Firestore write, the landing document in bench_hops.
 *
 * The floor hop (message { id, run, roundTrips: R }, "raw hops with the engine's round trips"):
 * the same function (so the floor phase runs on the raw phase's warm workers and adds none) makes
 * R sequential Firestore round trips, about the mix the engine makes per task
 * (`npx tsx bench/hot-path.ts` on the engine of 02cf5ca at concurrency 2: 14.3 a task, of them
 * tx.get 0.5, tx.getAll 2.2, commit 6.2, get 1.2, query 3.4, count 0.8; scripts/bench.ts's default R
 * is 14). Every round trip is on this hop's own two documents
 * (bench_floor/{run}--{id}--a and --b), so hops never contend: this is the cost of the round trips
 * alone, not of the engine's contention on shared documents.
 *
 * The first R - 1 round trips repeat this cycle of 7 steps (9 round trips):
 *   1. transaction: getAll(a, b), set a and b             (2: tx.getAll + commit)
 *   2. get a                                               (1: get)
 *   3. query bench_floor where hop == this hop, limit 10    (1: query)
 *   4. transaction: get a, set a and b                     (2: tx.get + commit)
 *   5. batch: set a and b                                  (1: commit)
 *   6. count() of the query of step 3                      (1: count)
 *   7. the query of step 3 again                           (1: query)
 * cut off after R - 1 round trips (a transaction that no longer fits is replaced by a get); the
 * last, R-th round trip is the raw hop's landing write, with round_trips = the round trips
 * actually made (a retried transaction counts its retries). With R = 14 (the default): tx.getAll 2,
 * tx.get 1, commit 5, get 2, query 3, count 1; with R = 16: tx.getAll 2, tx.get 2, commit 6, get 2,
 * query 3, count 1. A transaction's first read starts it (the SDK begins a
 * transaction with its first read), as in the engine, which uses the same SDK.
 */
export const benchHop = onMessagePublished({ topic: "bench-hops", region: "us-central1" }, async (event) => {
  const { id, run, roundTrips = 1 } = event.data.message.json;
  const db = getFirestore();
  const hop = `${run}--${id}`;
  const a = db.collection("bench_floor").doc(`${hop}--a`);
  const b = db.collection("bench_floor").doc(`${hop}--b`);
  const query = db.collection("bench_floor").where("hop", "==", hop).limit(10);
  let made = 0;
  let n = 0;
  const fields = () => ({ hop, run, n: (n += 1), at: new Date() });
  const steps = [
    {
      cost: 2,
      run: () =>
        db.runTransaction(async (tx) => {
          made += 2;
          await tx.getAll(a, b);
          tx.set(a, fields()).set(b, fields());
        }),
    },
    { cost: 1, run: () => ((made += 1), a.get()) },
    { cost: 1, run: () => ((made += 1), query.get()) },
    {
      cost: 2,
      run: () =>
        db.runTransaction(async (tx) => {
          made += 2;
          await tx.get(a);
          tx.set(a, fields()).set(b, fields());
        }),
    },
    { cost: 1, run: () => ((made += 1), db.batch().set(a, fields()).set(b, fields()).commit()) },
    { cost: 1, run: () => ((made += 1), query.count().get()) },
    { cost: 1, run: () => ((made += 1), query.get()) },
  ];
  const budget = Math.max(0, Number(roundTrips) - 1);
  for (let planned = 0, i = 0; planned < budget; i += 1) {
    let step = steps[i % steps.length];
    if (planned + step.cost > budget) step = steps[1];
    planned += step.cost;
    await step.run();
  }
  await db
    .collection("bench_hops")
    .doc(hop)
    .set({ run, id, at: new Date(), round_trips: made + 1 });
});
