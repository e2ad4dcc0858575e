/** See auth.mjs. */
export function emulatorToken(options: {
  authHost: string;
  projectId: string;
  role: "viewer" | "operator" | "admin";
  environments?: string[];
  email?: string;
}): Promise<string>;
