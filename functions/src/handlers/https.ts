/** Adapts firebase-functions' express-style requests to the framework-free API handler. */
import type { Request } from "firebase-functions/v2/https";
import type { Response } from "express";
import type { Services } from "../app.js";
import { handleApiRequest } from "./api.js";
import { errorResponse, parseJsonBody, type ApiRequest } from "./http.js";

const API_PREFIX = "/api/orchestration";

function firstValue(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && typeof value[0] === "string") return value[0];
  return undefined;
}

/** Serves one HTTPS request, whether it arrived directly or through the Hosting rewrite. */
export async function serveApi(services: Services, req: Request, res: Response): Promise<void> {
  let response;
  try {
    const path = req.path.startsWith(API_PREFIX) ? req.path.slice(API_PREFIX.length) || "/" : req.path;
    const request: ApiRequest = {
      method: req.method,
      path: path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path,
      query: Object.fromEntries(Object.entries(req.query).map(([key, value]) => [key, firstValue(value)])),
      body: parseJsonBody(req.rawBody, req.get("content-type")),
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([key, value]) => [key, firstValue(value)]),
      ),
      ip: req.ip,
    };
    response = await handleApiRequest(services, request);
  } catch (error) {
    response = errorResponse(error);
  }
  if (!response.raw) {
    res.status(response.status).json(response.body);
    return;
  }
  const { contentType, data, filename } = response.raw;
  res
    .status(response.status)
    .set({
      "Content-Type": contentType,
      "Content-Disposition": `inline; filename="${filename.replace(/[^A-Za-z0-9._-]/g, "_")}"`,
      // An HTML report is opened from the API's origin: it may style itself and show data: images, nothing else.
      "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
      "X-Content-Type-Options": "nosniff",
    })
    .send(data);
}
