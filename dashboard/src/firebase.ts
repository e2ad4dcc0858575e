/** Connects the browser to Firebase (or the Emulator Suite) with the config the API serves. */
import { initializeApp } from "firebase/app";
import { connectAuthEmulator, getAuth, type Auth } from "firebase/auth";
import { connectFirestoreEmulator, getFirestore, type Firestore } from "firebase/firestore";

export const API_BASE = "/api/orchestration";

/** `GET /api/orchestration/client-config` (see functions/src/app.ts `WebClientConfig`). */
interface WebClientConfig {
  project_id: string;
  api_key: string;
  auth_domain: string;
  emulators: { auth: string | null; firestore: string | null };
}

export interface Connection {
  auth: Auth;
  db: Firestore;
  projectId: string;
}

export async function connect(): Promise<Connection> {
  const response = await fetch(`${API_BASE}/client-config`);
  if (!response.ok) throw new Error(`client config: HTTP ${response.status}`);
  const config = (await response.json()) as WebClientConfig;
  const app = initializeApp({
    projectId: config.project_id,
    apiKey: config.api_key,
    authDomain: config.auth_domain,
  });
  const auth = getAuth(app);
  if (config.emulators.auth) connectAuthEmulator(auth, config.emulators.auth, { disableWarnings: true });
  const db = getFirestore(app);
  if (config.emulators.firestore) {
    const [host, port] = config.emulators.firestore.split(":");
    connectFirestoreEmulator(db, host ?? "127.0.0.1", Number(port));
  }
  return { auth, db, projectId: config.project_id };
}
