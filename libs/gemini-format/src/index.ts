export * from "./wire.js";
export * from "./request.js";
export * from "./response.js";
