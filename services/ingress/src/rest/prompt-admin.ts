import type { PromptAdminService } from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import type { AdminRoute } from "./admin.js";

const P = "/admin/v1/prompts";
const A = "/admin/v1/apis";

/**
 * The prompt admin API as REST. The tenant is the caller's own unless `tenant_id` names one
 * (query string on GET and DELETE, body otherwise; the operator must). Tenant-wide actions
 * are custom methods on the collection (`prompts:export`), so no prompt name is reserved.
 * A published API's URL is its path under /admin/v1 (/admin/v1/apis/support/summarize).
 */
export const PROMPT_ADMIN_ROUTES: readonly AdminRoute<typeof PromptAdminService>[] = [
  { method: "GET", path: P, rpc: "listPrompts" },
  { method: "POST", path: P, rpc: "createPrompt", created: true },
  { method: "GET", path: `${P}:export`, rpc: "exportPrompts" },
  { method: "POST", path: `${P}:export`, rpc: "exportPrompts" },
  { method: "POST", path: `${P}:import`, rpc: "importPrompts" },
  { method: "GET", path: `${P}:history`, rpc: "listHistory" },
  { method: "GET", path: `${P}/{name}`, rpc: "getPrompt" },
  { method: "POST", path: `${P}/{name}/versions`, rpc: "publishVersion", created: true },
  { method: "GET", path: `${P}/{name}/versions/{version}`, rpc: "getVersion" },
  { method: "PUT", path: `${P}/{name}/labels/{label}`, rpc: "setLabel" },
  { method: "DELETE", path: `${P}/{name}/labels/{label}`, rpc: "deleteLabel" },
  { method: "GET", path: `${P}/{name}/history`, rpc: "listHistory" },
  { method: "GET", path: `${P}/{name}/diff`, rpc: "diffVersions" },
  { method: "GET", path: A, rpc: "listApis" },
  { method: "POST", path: A, rpc: "publishApi", created: true },
  { method: "GET", path: "/admin/v1/{path=apis/**}", rpc: "getApi" },
  { method: "DELETE", path: "/admin/v1/{path=apis/**}", rpc: "deleteApi" },
];
