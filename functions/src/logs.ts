/** Structured JSON logs carrying the correlation id that follows a deployment through every trigger. */
import { logger } from "firebase-functions";

type Fields = Record<string, unknown> & { correlation_id?: string };

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
}

/** The Cloud Functions logger: one JSON entry per call, severity mapped by Cloud Logging. */
export const functionsLogger: Logger = {
  debug: (message, fields) => logger.debug(message, fields ?? {}),
  info: (message, fields) => logger.info(message, fields ?? {}),
  warn: (message, fields) => logger.warn(message, fields ?? {}),
  error: (message, fields) => logger.error(message, fields ?? {}),
};
