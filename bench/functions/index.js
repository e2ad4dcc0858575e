// Benchmark-only functions (codebase "bench"): the raw hop that `npm run bench` compares the
// engine against. One hop = publish to Pub/Sub -> this Pub/Sub-triggered function -> one
// Firestore write. Loaded only into the bench stack (scripts/bench.ts adds this codebase to
// its generated firebase config); never part of the deployable control plane.
import { initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { onMessagePublished } from "firebase-functions/v2/pubsub";

initializeApp();

export const benchHop = onMessagePublished({ topic: "bench-hops", region: "us-central1" }, async (event) => {
  const { id, run } = event.data.message.json;
  await getFirestore().collection("bench_hops").doc(`${run}--${id}`).set({ run, id, at: new Date() });
});
