/** A local server that holds Google API requests to their published discovery document. */
export { ContractServer, badRequest } from "./server.js";
export type { ContractReply, ContractRequest, Handler, RecordedRequest } from "./server.js";
export { ApiError, Operations, ResourceCollection, faultError, RPC_STATUS } from "./resources.js";
export type { Fault, Operation, RpcStatus } from "./resources.js";
export { loadDiscovery, discoveryFolder } from "./discovery.js";
export type { ContractRules, DiscoveryDocument, DiscoveryMethod } from "./discovery.js";
export type { Violation } from "./validate.js";
export { cloudSchedulerModel } from "./models/cloudscheduler.js";
export { bigQueryModel } from "./models/bigquery.js";
export type { BigQueryModel, QueryResponder, ReceivedQuery } from "./models/bigquery.js";
export type { RawHandler } from "./server.js";
export { firebaseHostingModel } from "./models/firebasehosting.js";
export type { HostingModel, HostingSite } from "./models/firebasehosting.js";
export { firebaseRulesModel } from "./models/firebaserules.js";
export type { RulesModel } from "./models/firebaserules.js";
export { resourceManagerModel } from "./models/cloudresourcemanager.js";
export { firestoreIndexModel } from "./models/firestore-indexes.js";
export type { IndexModel } from "./models/firestore-indexes.js";
