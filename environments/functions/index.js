// The application's Cloud Functions (the product being orchestrated, not the control plane).
import { onRequest } from "firebase-functions/v2/https";
import { onMessagePublished } from "firebase-functions/v2/pubsub";

export const api = onRequest((req, res) => {
  res.json({ ok: true, path: req.path });
});

export const processOrder = onMessagePublished("orders", (event) => {
  console.log("order", event.data.message.json);
});

export const sendEmail = onMessagePublished("emails", (event) => {
  console.log("email", event.data.message.json);
});
