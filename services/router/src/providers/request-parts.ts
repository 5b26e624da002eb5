import { TesseraError } from "@tessera/runtime";
import type { Message } from "@tessera/gen/tessera/chat/v1/chat_pb";

/** A request the caller can fix: invalid_request naming the field (`param`) and why (`code`). */
export function invalidRequest(message: string, param: string, code = "invalid_value"): TesseraError {
  return new TesseraError("invalid_request", message, { param, code });
}

/**
 * Text of a message whose role takes no images at this provider (system, developer, tool,
 * assistant): its content, or its text parts joined; an image part is refused, naming the
 * provider (as users know it, e.g. "Bedrock") and the part.
 */
export function plainText(m: Message, param: string, provider: string): string {
  if (m.parts.length === 0) return m.content;
  return m.parts
    .map((p, j) => {
      if (p.part.case === "text") return p.part.value;
      if (p.part.case === "imageUrl") throw invalidRequest(`images are only allowed in user messages for ${provider}`, `${param}.content[${j}]`);
      return "";
    })
    .join("");
}
