/**
 * A local webhook receiver for the demo's notification steps: it stands in for Slack or Google Chat
 * and keeps every notice it hears, in order of arrival.
 */
import { createServer } from "node:http";

export interface WebhookReceiver {
  /** The URL to put in a `webhook` channel of the config. */
  url: string;
  /** The notices received so far. */
  heard: { text?: string }[];
  close: () => void;
}

/** Listens on a free loopback port; `pathName` only makes the URL say what it is for. */
export async function startWebhookReceiver(pathName: string): Promise<WebhookReceiver> {
  const heard: { text?: string }[] = [];
  const receiver = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      heard.push(JSON.parse(body) as { text?: string });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const port = (receiver.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/${pathName}`, heard, close: () => receiver.close() };
}
