/** Wiring only: every deployable function of the control plane, and nothing else. */
import { initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { onRequest } from "firebase-functions/v2/https";
import { createServices, type Services } from "./app.js";
import { serveApi } from "./handlers/https.js";

initializeApp();

let services: Services | undefined;
/** Built on first use so that a cold start that serves nothing does no work. */
function getServices(): Services {
  services ??= createServices({ db: getFirestore() });
  return services;
}

export const api = onRequest({ region: "us-central1", cors: true }, (req, res) => serveApi(getServices(), req, res));
