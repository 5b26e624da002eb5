export * from "./wire.js";
export * from "./request.js";
export * from "./convert.js";
export * from "./errors.js";
export * from "./sse.js";
export * from "./embeddings.js";
