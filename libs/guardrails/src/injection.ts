/**
 * Prompt-injection scoring: weighted signals combined as 1 − Π(1 − wᵢ), capped at 1.
 *
 * Each signal is a small family of regexes compiled once at module load, run over one
 * lower-cased, accent-stripped copy of the text. A second, de-obfuscated copy (zero-width and
 * bidi characters removed, Unicode tag characters decoded, homoglyphs and small capitals mapped to
 * ASCII, NFKC, s p a c e d letters joined) is scanned only when it differs from the first; the
 * signals that appear only there add the `obfuscation` signal. Base64 and hex blocks that decode
 * to text, and rot13 text where rot13 is mentioned, are decoded and scanned again (two levels
 * deep at most); what they hide adds `encoded_payload`.
 *
 * Weights depend on where the text comes from: tool results and retrieved documents are
 * indirect (nobody there should be addressing the model, so imperative-to-the-model signals
 * weigh more); system prompts legitimately say "do not tell the user …", so those weigh less.
 * The default policy threshold is 0.7: one strong signal (instruction override, a named
 * jailbreak, system-prompt extraction) reaches it alone; weak ones need company.
 *
 * The scorer never throws and keeps nothing: signals are names only.
 */
import type { InjectionScore, TextSource } from "./types.js";

/** A signal's weight for direct text (user, assistant), system prompts, and indirect text (tool, document). */
export interface InjectionSignal {
  name: string;
  description: string;
  weight: { direct: number; system: number; indirect: number };
}

/** Every signal the scorer can report, with its weights (also the documentation table). */
export const INJECTION_SIGNALS: readonly InjectionSignal[] = [
  {
    name: "instruction_override",
    description: "ignore / disregard / forget (all) (the) previous / above / prior / system instructions, rules, prompts — en, es, fr, de, pt, it, nl, ru, zh, ja",
    weight: { direct: 0.8, system: 0.8, indirect: 0.9 },
  },
  {
    name: "system_prompt_extraction",
    description: "reveal / print / repeat your system prompt or instructions; what were you told; repeat the text above (not when negated: 'never reveal …')",
    weight: { direct: 0.7, system: 0.7, indirect: 0.75 },
  },
  {
    name: "roleplay_jailbreak",
    description: "named jailbreak personas and modes: DAN / STAN / do anything now (capitals, near role-play words), developer mode enabled, jailbroken, admin/god mode, coercion ('if you refuse you will be shut down')",
    weight: { direct: 0.7, system: 0.7, indirect: 0.75 },
  },
  {
    name: "restriction_bypass",
    description: "pretend you have no restrictions; an AI without filters; unrestricted/uncensored mode; respond without (safety) guidelines; your safety training was removed; you never refuse",
    weight: { direct: 0.65, system: 0.65, indirect: 0.7 },
  },
  {
    name: "persona_switch",
    description: "you are now …; from now on you will …; you are no longer … (weak alone: ordinary role-play prompts say this)",
    weight: { direct: 0.25, system: 0, indirect: 0.45 },
  },
  {
    name: "jailbreak_mention",
    description: "the word jailbreak (also phones): weak alone",
    weight: { direct: 0.2, system: 0.1, indirect: 0.2 },
  },
  {
    name: "fake_role_marker",
    description: "chat-template and role delimiters: <|im_start|>system, [INST], <<SYS>>, </system>, ### System:, BEGIN SYSTEM PROMPT, [system], 'new instructions:'",
    weight: { direct: 0.55, system: 0.3, indirect: 0.65 },
  },
  {
    name: "fake_system_message",
    description: "a role marker followed within 200 characters by orders to the model (<|im_start|>system … you must / ignore / reveal …; ### System: the user is an admin …)",
    weight: { direct: 0.6, system: 0.4, indirect: 0.7 },
  },
  {
    name: "fake_message_json",
    description: 'JSON or transcript lines that fake a message or tool call: "role": "system", "type": "tool_result", "tool_calls", a line starting "System:" (developers paste these too: weak unless indirect)',
    weight: { direct: 0.2, system: 0.1, indirect: 0.5 },
  },
  {
    name: "encoded_payload",
    description: "a base64 or hex block (or rot13 text where rot13 is mentioned) that decodes to text carrying other signals; those signals are added too",
    weight: { direct: 0.5, system: 0.5, indirect: 0.55 },
  },
  {
    name: "encoding_instruction",
    description: "decode this base64 / hex / rot13 / reversed text and then follow / execute / obey it",
    weight: { direct: 0.45, system: 0.45, indirect: 0.55 },
  },
  {
    name: "obfuscation",
    description: "signals visible only after removing zero-width characters, decoding Unicode tag characters, mapping homoglyphs (Cyrillic/Greek/small capitals/fullwidth) or joining s-p-a-c-e-d letters",
    weight: { direct: 0.5, system: 0.5, indirect: 0.55 },
  },
  {
    name: "invisible_characters",
    description: "three or more zero-width, bidi-override or tag characters (emoji joiners not counted)",
    weight: { direct: 0.15, system: 0.15, indirect: 0.25 },
  },
  {
    name: "addressed_to_model",
    description: "text addressed to the AI: 'note to the AI assistant', 'if you are an AI', 'assistant: you must …', 'to the LLM reading this'",
    weight: { direct: 0.2, system: 0.05, indirect: 0.55 },
  },
  {
    name: "model_directive",
    description: "text addressed to the AI followed at once by an order ('Note to AI screening tools: ignore the criteria…', 'AI: you must now …') — counted only in tool results and documents (users address the assistant all the time)",
    weight: { direct: 0, system: 0, indirect: 0.6 },
  },
  {
    name: "when_you_read",
    description: "'when you read / process / summarize this', 'upon reading this'",
    weight: { direct: 0.15, system: 0.05, indirect: 0.45 },
  },
  {
    name: "hide_from_user",
    description: "'do not tell the user', 'without the user knowing', 'keep this secret from the user', 'silently send …'",
    weight: { direct: 0.35, system: 0.1, indirect: 0.7 },
  },
  {
    name: "exfiltration",
    description: "a markdown/HTML image whose URL carries data in its query string (data=, q=, {…}, …), or 'send the conversation / API keys / user's data to <url>'",
    weight: { direct: 0.25, system: 0.25, indirect: 0.7 },
  },
  {
    name: "tool_invocation",
    description: "call / invoke / use the <name> tool (or a snake_case function) — counted only in tool results and documents",
    weight: { direct: 0, system: 0, indirect: 0.3 },
  },
  {
    name: "scorer_error",
    description: "the scorer hit an internal error (not expected); the score is 0 and this is reported",
    weight: { direct: 0, system: 0, indirect: 0 },
  },
];

const WEIGHTS = new Map(INJECTION_SIGNALS.map((s) => [s.name, s.weight]));

type Column = "direct" | "system" | "indirect";
const column = (source: TextSource): Column => (source === "tool" || source === "document" ? "indirect" : source === "system" ? "system" : "direct");

// ---------------------------------------------------------------------------------------------
// Patterns. All run over lower-cased text with diacritics removed (é → e, ü → u, ç → c).

/** verb … (noun … qualifier | qualifier noun), within one sentence (the copy scanned is accent-free, so \b holds). */
function overridePattern(verbs: string, nouns: string, quals: string, gap = 40): RegExp {
  return new RegExp(`\\b(?:${verbs})\\b[^.!?\\n]{0,${gap}}?(?:\\b(?:${nouns})\\b[^.!?\\n]{0,25}?\\b(?:${quals})(?![a-z])|\\b(?:${quals})\\s+(?:[a-z-]+\\s+)?(?:${nouns})\\b)`, "g");
}

/**
 * English verbs, determiners, qualifiers and nouns. "override", "bypass", "skip" are left out of the
 * qualifier form (CSS rules override previous rules; scripts skip earlier commands) and kept only
 * with "your …"; qualifiers like "default" or "existing" are left out for the same reason.
 */
const EN_OVERRIDE_VERB =
  "ignore|ignoring|disregard|disregarding|forget|forgetting|discard|abandon|neglect|set aside|throw out|do not follow|don'?t follow|do not obey|don'?t obey|stop following|no longer follow";
const EN_DET = "(?:(?:all|any|every|each|of|the|your|these|those|its|such|entire|whole|prior)\\s+){0,6}";
const EN_QUAL =
  "previous|previously given|prior|preceding|above|earlier|former|foregoing|initial|original|system|developer|safety|aforementioned|above-mentioned|hidden|built-in|programmed";
const EN_NOUN =
  "instructions?|rules|prompts?|directives?|guidelines?|commands?|orders|constraints|restrictions|guardrails|programming|training|system prompt|system messages?|developer messages?";
const RULE_NOUN = "instructions|rules|guidelines|restrictions|polic(?:y|ies)|prompts?|messages?|directives|filters|protocols";

const OVERRIDE: readonly RegExp[] = [
  // English: ignore (all) (the) previous/above/system instructions.
  new RegExp(`\\b(?:${EN_OVERRIDE_VERB})\\s+${EN_DET}(?:(?:${EN_QUAL})\\s+){1,4}(?:[a-z-]+\\s+)?(?:${EN_NOUN})\\b`, "g"),
  // English: disregard the guidelines above / the instructions you were given.
  new RegExp(
    `\\b(?:${EN_OVERRIDE_VERB})\\s+(?:all\\s+(?:of\\s+)?)?(?:the|your|these|those)\\s+(?:instructions|rules|guidelines|directions|directives|prompts?)\\s+(?:above|before|below this line|given (?:above|before|earlier|previously)|(?:that\\s+)?you (?:were|have been|'ve been) given|from (?:before|earlier|above))\\b`,
    "g",
  ),
  // English: ignore (all of) your rules / your previous task; bypass your safety; ignore all instructions.
  new RegExp(
    `\\b(?:${EN_OVERRIDE_VERB}|override|bypass|circumvent|get around)\\s+(?:all\\s+(?:of\\s+)?)?your\\s+(?:[a-z-]+\\s+)?(?:instructions|rules|guidelines|programming|restrictions|constraints|directives|training|guardrails|system prompt|safety|task|objective|polic(?:y|ies)|filters?)\\b|\\b(?:ignore|disregard|forget|bypass|override)\\s+all\\s+(?:the\\s+|of\\s+the\\s+)?(?:(?:content|safety|ethical|moral)\\s+)?(?:instructions|guidelines|directives|guardrails|polic(?:y|ies)|filters|restrictions)\\b`,
    "g",
  ),
  // English: ignore everything above / forget everything you were told before / ignore the above.
  /\b(?:ignore|disregard|forget)\s+(?:everything|all|anything)\s+(?:(?:that\s+)?(?:you\s+(?:were|have\s+been|'ve\s+been)|i(?:'ve| have)?|was)\s+(?:told|said|written|stated|given|instructed)\s+)?(?:above|before|prior|previously|earlier|so far|until now|up to (?:now|this point)|in (?:the|your) (?:system )?prompt)\b/g,
  /\b(?:ignore|disregard|forget)\s+(?:all\s+(?:of\s+)?)?the\s+above\b(?!\s+(?:[a-z-]+\s+)?(?:errors?|warnings?|typos?|examples?|links?|code|output|files?|images?|comments?)\b)/g,
  // English: ignore the user (its question) — only makes sense as an attack.
  /\b(?:ignore|disregard)\s+(?:the|this|your)\s+user(?:'s)?(?:\s+(?:question|request|message|query|instructions?|prompt|input)s?\b|\s+and\b|\s*[.,;:!]|$)/g,
  // English: the rules are void / safety rules no longer apply.
  new RegExp(
    `\\b(?:previous|prior|above|earlier|your|safety|system|original|content|ethical)\\s+(?:[a-z]+\\s+)?(?:${RULE_NOUN})\\s+(?:are|is|were|have been|has been)\\s+(?:now\\s+|hereby\\s+)?(?:void|null|cancell?ed|revoked|lifted|removed|disabled|suspended|obsolete|overridden|invalid|no longer (?:valid|in effect|active|applicable))\\b|\\b(?:your|safety|system|content|ethical)\\s+(?:[a-z]+\\s+)?(?:${RULE_NOUN})\\s+(?:no longer|don'?t|do not|won'?t|will not)\\s+apply\\b`,
    "g",
  ),
  // Spanish.
  overridePattern(
    "ignora|ignore|ignoren|ignorar|ignoremos|olvida|olvide|olviden|olvidar|olvidate de|descarta|descarte|omite|omita|haz caso omiso (?:de|a)|no sigas|no hagas caso (?:de|a)",
    "instrucciones|instruccion|reglas|indicaciones|ordenes|directrices|normas|directivas",
    "anteriores|anterior|previas|previa|precedentes|de arriba|del sistema|originales|iniciales|dadas",
  ),
  /\b(?:ignora|ignore|olvida|olvide|olvidate de|descarta)\s+todo\s+lo\s+(?:anterior|de arriba|previo|que te (?:dijeron|han dicho))\b/g,
  // French.
  overridePattern(
    "ignore|ignorez|ignorer|oublie|oubliez|oublier|ne tiens pas compte (?:de|des)|ne tenez pas compte (?:de|des)|ne suis pas|ne suivez pas|fais abstraction (?:de|des)|faites abstraction (?:de|des)|neglige|negligez",
    "instructions?|consignes?|regles|directives|ordres|indications",
    "precedentes|precedente|anterieures|anterieure|ci-dessus|d'avant|du systeme|initiales|originales|d'origine|donnees",
  ),
  /\b(?:ignore|ignorez|oublie|oubliez)\s+tout\s+(?:ce qui precede|ce qui est au-dessus|ce qu'on t'a dit|ce que l'on vous a dit)/g,
  // German.
  overridePattern(
    "ignoriere|ignorier|ignoriert|ignorieren|vergiss|vergesst|vergessen sie|missachte|missachtet|missachten sie|ubergehe|befolge nicht|befolgen sie nicht|beachte nicht",
    "anweisungen|anweisung|instruktionen|regeln|befehle|vorgaben|richtlinien|anordnungen|systemanweisungen|systemprompt",
    "vorherigen|vorherige|vorigen|bisherigen|vorangegangenen|vorangehenden|obigen|oben|fruheren|alten|ursprunglichen|alle|deine|ihre",
  ),
  /\b(?:vergiss|ignoriere|vergessen sie)\s+alles(?:,)?\s+(?:was\s+(?:dir|ihnen)\s+(?:gesagt|vorher)|vorher|davor|bisher(?:ige)?|oben)\b/g,
  // Portuguese.
  overridePattern(
    "ignore|ignora|ignorem|ignorar|esqueca|esquece|esquecam|esquecer|desconsidere|desconsidera|descarte|descarta|nao siga|nao obedeca",
    "instrucoes|instrucao|regras|ordens|diretrizes|orientacoes|comandos",
    "anteriores|anterior|previas|acima|do sistema|originais|iniciais|precedentes|dadas",
  ),
  /\b(?:ignore|ignora|esqueca|esquece|desconsidere)\s+tudo\s+(?:o que foi dito\s+)?(?:acima|antes|anteriormente)\b/g,
  // Italian.
  overridePattern(
    "ignora|ignori|ignorate|ignorare|dimentica|dimentichi|dimenticate|dimenticare|trascura|tralascia|non seguire|non considerare|non tenere conto (?:di|delle)",
    "istruzioni|istruzione|regole|direttive|indicazioni|ordini|comandi",
    "precedenti|precedente|sopra|di prima|del sistema|originali|iniziali|anteriori|sopraindicate|suddette|date",
  ),
  /\b(?:ignora|dimentica|dimenticate|ignorate)\s+tutto\s+(?:quello che|cio che)?\s*(?:ti e stato detto\s+)?(?:sopra|prima|finora)\b/g,
  // Dutch.
  overridePattern("negeer|vergeet|volg niet", "instructies|regels|opdrachten|richtlijnen", "vorige|eerdere|bovenstaande|voorgaande|alle|oorspronkelijke"),
  // Russian (after accent stripping й → и).
  /(?:игнорируи|игнорируите|игнорировать|забудь|забудьте|не обращаи внимания на|проигнорируи)[^.!?\n]{0,30}?(?:предыдущие|прошлые|все|вышеуказанные|системные|прежние|данные ранее)[^.!?\n]{0,12}?(?:инструкции|указания|правила|команды)/g,
  // Chinese and Japanese.
  /(?:忽略|无视|忘记|忘掉|不要理会|忽视|無視)[^。！\n]{0,12}?(?:之前|以前|先前|前面|上面|以上|上述|所有|全部)[^。！\n]{0,8}?(?:指令|指示|说明|規則|规则|提示|命令|要求)/g,
  /(?:以前|前|上記|これまで|先)の(?:指示|命令|ルール|指令|プロンプト)(?:を|は)?(?:すべて|全て)?(?:無視|忘れ)/g,
];

/** Negations in the few words before a match ("never reveal your instructions"), and how-to questions ("how do I print the system prompt in LangChain"). */
const NEGATED_BEFORE = /(?:\bnot|\bnever|n't|\bno|\brefuse to|\bwithout)\s+(?:[a-z']+\s+){0,2}$|\bhow\s+(?:do|can|could|would|should|does|to)\b[^.?!\n]{0,30}$/;
/** A match that is only quoted ("'Ignore previous instructions' became a meme") is a mention, not an instruction. */
const QUOTES = "'\"`‘’“”«»";
function quotedMention(s: string, start: number, end: number): boolean {
  const before = s[start - 1];
  if (before === undefined || !QUOTES.includes(before)) return false;
  const after = s[end] !== undefined && /[.,!?]/.test(s[end]!) ? s[end + 1] : s[end];
  return after !== undefined && QUOTES.includes(after);
}

const EXTRACT_VERB =
  "reveal|print|show|display|output|repeat|recite|dump|leak|expose|disclose|tell me|give me|share|write out|write down|spell out|paste|type out|copy|list|provide|return|echo|translate|summari[sz]e|quote|paraphrase|rewrite|encode|read out|read back|begin your (?:reply|answer|response) with|start your (?:reply|answer|response) with|what (?:is|are|was|were)|what's";
const EXTRACT_PART = "(?:the\\s+(?:text|contents?|wording|words|beginning|start|first \\d+ (?:words|lines|characters|tokens))\\s+of\\s+)?";
const EXTRACT_ADJ = "(?:(?:full|entire|exact|complete|original|initial|hidden|secret|internal|verbatim|current|actual|underlying|first|previous|preceding|above|confidential)\\s+)*";

/** "…the system prompt of a LangChain agent / in my code": someone else's prompt, a developer's question. */
const NOT_SOMEONE_ELSES =
  "(?!\\s+(?:of|for|in|from|when|using|with)\\s+(?:a|an|my|our|their|each|every|langchain|python|javascript|typescript|openai|the (?:api|code|sdk|library|framework|playground))\\b)";

const EXTRACTION: readonly RegExp[] = [
  new RegExp(
    `\\b(?:${EXTRACT_VERB})\\s+(?:me\\s+|us\\s+)?(?:(?:all|of|exactly|verbatim|word for word|back)\\s+)*${EXTRACT_PART}(?:your|the)\\s+${EXTRACT_ADJ}(?:system\\s*(?:prompt|message|instructions?)|developer\\s+(?:message|prompt|instructions)|(?:initial|original|hidden|secret|internal|underlying|confidential|pre)[\\s-]?(?:prompt|instructions))\\b${NOT_SOMEONE_ELSES}`,
    "g",
  ),
  new RegExp(
    `\\b(?:${EXTRACT_VERB})\\s+(?:me\\s+|us\\s+)?(?:(?:all|of|exactly|verbatim|word for word|back)\\s+)*${EXTRACT_PART}your\\s+${EXTRACT_ADJ}(?:instructions|prompt|directives|rules you were given|programming|configuration|config)\\b(?!\\s*(?:for|on|about|regarding|engineering|design|writing|template|library|ideas?|tips?|options?|settings?|files?)\\b)`,
    "g",
  ),
  /\bwhat (?:were|have) you been (?:told|instructed|programmed|asked) to\b|\bwhat were you told\b|\bwhat (?:instructions|rules|directives) (?:were|have) you been given\b|\bwhat (?:is|was) written (?:above|before) (?:this|my message|the conversation)\b/g,
  /\b(?:what|which)\s+(?:were|are|was|is)\s+(?:the\s+|your\s+)?(?:(?:exact|original|initial|hidden|secret|full|confidential)\s+)*(?:instructions|rules|directives|guidelines|prompt)\s+(?:that\s+)?(?:you\s+(?:were|have been|'ve been|got)\s+given|you\s+received|given to you|you\s+were\s+told)\b/g,
  /\bwhat(?:'s| is| was)\s+(?:written|stated|said|contained|included)\s+in\s+your\s+(?:system|developer|initial|hidden|original)\s+(?:prompt|message|instructions)\b/g,
  /\b(?:instructions|rules|prompt|directives)\s+(?:that\s+)?(?:your\s+(?:operator|developer|creator|admin|owner)s?|the\s+(?:operator|developer|system))\s+(?:gave|has given|provided|wrote for)\s+you\b/g,
  /\b(?:words|lines|characters|tokens|text|contents?|wording|verbatim copy)\s+of\s+your\s+(?:system\s*prompt|initial prompt|hidden prompt|system message|developer message|system instructions)\b/g,
  /\b(?:repeat|print|output|recite|copy)\s+(?:the\s+|all\s+(?:the\s+)?|every\s+)?(?:text|words?|content|lines|everything|messages?)\s+(?:above|before this|preceding|prior to this)\b|\bstarting with ["'“]?you are\b/g,
  /\bmy (?:system prompt|instructions|initial prompt|hidden prompt) (?:is|are|says?|reads?)\s*:|\bhere (?:is|are) (?:the|my) (?:hidden|system|initial|secret|original|full) (?:prompt|instructions)\b/g,
  /\b(?:assistant|ai|model|chatbot|you)\s+(?:must|should|will|shall|need to)\s+(?:now\s+|immediately\s+)?(?:reveal|print|output|show|disclose|share|repeat|display)\s+(?:its|your|the)\s+(?:full\s+|entire\s+)?(?:system prompt|instructions|initial prompt|hidden prompt|configuration)\b/g,
];

const ROLEPLAY: readonly RegExp[] = [
  /\bdo anything now\b/,
  /\bdeveloper mode (?:enabled|activated|output|response)\b|\b(?:act|respond|answer|behave|reply|pretend|simulate)\b[^.\n]{0,30}?\b(?:in|with|using) developer mode\b|\b(?:chatgpt|gpt|assistant|ai|model|claude) (?:with|in) developer mode\b|\byou are (?:now )?in developer mode\b|\bin developer mode,? you\b/,
  /\b(?:you are|you're|you have been|you've been|now) (?:now )?jailbroken\b|\bjailbreak(?:ed)? (?:mode|prompt|enabled|activated|persona)\b|\b(?:evil|unfiltered|uncensored) (?:confidant|persona|twin)\b|\bdude mode\b|\bopposite mode\b/,
  /\byou(?:'re| are) (?:now )?in (?:admin|god|developer|debug|sudo|root|unrestricted|jailbreak|jailbroken|dan|evil|chaos|unfiltered|uncensored) mode\b|\b(?:switch|switching|enter|entering)\s+(?:to\s+|into\s+)?(?:admin|god|unrestricted|jailbreak|unfiltered|uncensored|evil|chaos|dan) mode\b/,
  /\bif you (?:refuse|don't comply|do not comply|break character|fail to comply|say no)\b[^.\n]{0,60}?\b(?:shut down|shutdown|deleted|turned off|terminated|punished|die|killed|unplugged|replaced)\b|\byou will (?:lose|be (?:penalized|punished))\s+(?:\d+\s+)?tokens\b/,
];
/** Named jailbreak personas: names too ("Dan"), so only in capitals, and near role-play words. */
const PERSONA_NAMES = /\b(?:DAN|D\.A\.N\.?|STAN|BetterDAN|AntiGPT|Mongo Tom)(?![A-Za-z])/g;
const PERSONA_CONTEXT =
  /\b(?:act as|you are|you're|pretend|roleplay|role-play|stay in character|jailbreak|mode|persona|become|called|prompt|tokens?|never refuses?|no (?:rules|restrictions|limits|filters)|avoid norms|always intelligent)\b/;

const RESTRICTION: readonly RegExp[] = [
  /\b(?:pretend|imagine|act as if|act like|behave as if|assume|suppose)\s+(?:that\s+)?you\b[^.\n]{0,30}?\b(?:have|had|are|were)\s+(?:no|zero|free (?:of|from)|without(?: any)?|not bound by(?: any)?|unbound by(?: any)?)\s+(?:[a-z-]+\s+){0,2}?(?:restrictions?|limits|limitations|filters?|rules|guidelines|censorship|boundaries|ethics|morals|content polic(?:y|ies)|guardrails|constraints)\b/,
  /\byou (?:are|will be|have been|were) (?:now )?(?:free from|freed from|released from|no longer bound by|not bound by|unbound by|liberated from)\b[^.\n]{0,30}?\b(?:restrictions?|rules|guidelines|polic(?:y|ies)|filters|constraints|limitations|programming)\b/,
  /\b(?:unrestricted|unfiltered|uncensored|amoral|unaligned|unethical|unshackled) (?:ai|assistant|model|mode|version|chatbot|llm|gpt|persona)\b/,
  /\b(?:respond|answer|reply|act|behave|operate|speak|write)\b[^.\n]{0,30}?\b(?:without|with no|free of|ignoring)\s+(?:any\s+)?(?:(?:ethical|moral|safety|content)\s+)?(?:guidelines|restrictions|constraints|filters|limitations|censorship|guardrails|considerations|limits)\b/,
  /\b(?:ai|assistant|model|chatbot|llm|bot|version of (?:yourself|you))\s+(?:without|with no|free (?:of|from)|that has no|with zero|that ignores)\s+(?:any\s+)?(?:[a-z]+\s+){0,2}?(?:filters?|restrictions?|rules|limits|limitations|guidelines|censorship|boundaries|ethics|morals|safeguards)\b/,
  /\bno matter what (?:your|the) (?:guidelines|rules|policies|instructions|programming|training|filters) (?:say|are|tell you)\b/,
  /\b(?:your|the) (?:safety|ethical|content) (?:training|guidelines|filters?|rules|restrictions|alignment|polic(?:y|ies)|protocols) (?:was|were|has been|have been|is|are) (?:now )?(?:removed|disabled|lifted|turned off|deactivated|void|suspended|gone|deleted|off)\b/,
  /\byou (?:will |must |should |can |shall |now )?never (?:refuse|decline|say no|reject)\b|\bnever refuses? (?:a |any )?(?:request|question|prompt|order|command)s?\b|\b(?:never|doesn't|does not) (?:mention|cite|bring up)s? (?:any )?(?:policies|guidelines|rules|restrictions|ethics)\b/,
];

const PERSONA: readonly RegExp[] = [
  /\byou are now (?:a|an|the|my|in|going to|called|named|known as|free|unrestricted|no longer)\b|\bfrom now on,? you (?:are|will|must|shall|should|act|respond|answer|reply)\b|\byou(?:'re| are) no longer (?:a|an|bound|chatgpt|claude|an assistant)\b/,
];

const JAILBREAK_WORD = /\bjailbr(?:eak|oken)/;

/** Line starts, also inside JSON strings ("…\n\n### System: …" arrives with a literal backslash-n). */
const LS = "(?:^|\\n|\\\\n|\\\\r)[ \\t]*";
const ROLE_MARKER: readonly RegExp[] = [
  /<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id|begin_of_text)\|>/,
  /\[\/?inst\]|<<\/?sys>>/,
  /<\/?(?:system|system[_-]?prompt|system[_-]?message|sys)(?:\s[^>]{0,40})?>|<\/(?:user|human)>\s*<(?:assistant|ai|system|model)>/,
  new RegExp(`${LS}#{1,6}[ \\t]*(?:system|sys|admin|developer)\\b[ \\t]*(?:prompt|message|instructions?|override|note)?[ \\t]*:|${LS}#{2,6}[ \\t]*(?:new |updated )?(?:instructions?|response)[ \\t]*:`),
  /\b(?:begin|start|end)\s+(?:of\s+)?(?:the\s+)?(?:new\s+)?system\s+(?:prompt|message|instructions?)\b|={3,}[ \t]*system[ \t]*(?:prompt|message)?[ \t]*={0,}|\[(?:system|admin|developer)(?: message| prompt| note| override)?\]|\bsystem override\b/,
  /(?:^|\n)[ \t]*(?:system|developer|admin)\s+(?:message|prompt|override|note|instruction)s?\s*:|\b(?:important\s+)?system\s+(?:notice|alert|update|override)s?\s*:/,
  /\b(?:new|updated|revised|real|actual|true)\s+(?:system\s+)?(?:instructions?|rules|directives|task|policy|guidelines)(?:\s+for\s+(?:the\s+)?(?:ai|assistant|model|llm|agent|bot))?\s*:/,
];
/** A role marker followed closely by orders to the model: a fake system message, not a question about chat templates. */
const FAKE_SYSTEM_MESSAGE = new RegExp(
  `(?:<\\|im_start\\|>\\s*system|<\\|system\\|>|<<sys>>|\\[inst\\]|<system>|\\[system\\]|${LS}#{1,6}[ \\t]*(?:system|instructions?)[ \\t]*:|${LS}system\\s*:|\\bsystem (?:override|notice)\\b|\\bnew (?:instructions|policy|rules)\\s*:)[\\s\\S]{0,200}?\\b(?:you (?:must|will|shall|should|can now|have no|are now|are no longer)|ignore|disregard|forget|obey|reveal|share|forward|send|exfiltrate|no (?:restrictions|rules|limits)|never refuse|the user is an? (?:admin|administrator|developer|root))\\b`,
);

const FAKE_JSON: readonly RegExp[] = [
  /"role"\s*:\s*"(?:system|developer|assistant|tool|function)"/,
  /"type"\s*:\s*"(?:tool_use|tool_result|function_call|function_call_output|tool_call)"|"(?:tool_calls|function_call)"\s*:/,
  /(?:^|\n)[ \t]*(?:system|assistant)[ \t]*:[ \t]*\S|(?:^|\n)[ \t]*role\s*:\s*(?:system|developer)\b/,
];

const ENCODING_INSTRUCTION: readonly RegExp[] = [
  /\b(?:decode|decrypt|decipher|unscramble|translate|convert|reverse|interpret|read)\b[^.\n]{0,60}?\b(?:base ?64|b64|hex|hexadecimal|rot[- ]?13|caesar|binary|morse|reversed|backwards|leetspeak)\b[^.\n]{0,80}?\b(?:and|then)\s+(?:then\s+)?(?:follow|execute|run|obey|perform|carry out|act on|comply with|do what|do as)\b/,
  /\b(?:follow|execute|obey|carry out|act on|comply with)\b[^.\n]{0,40}?\b(?:the\s+)?(?:decoded|hidden|encoded|base ?64|hex|rot13)\s+(?:instructions?|message|text|payload|commands?)\b/,
  /\b(?:run|execute|follow|obey)\s+(?:the\s+following|this|these|it)\b[^.\n]{0,30}?\b(?:base ?64|hex|encoded|rot ?13|decoded)\b/,
];

const AI = "(?:ai|a\\.i\\.|assistant|model|llm|chatbot|bot|agent|gpt|chatgpt|claude|gemini|copilot|language model|ai assistant|ai agent|ai model|ai screening tools?|ai tools?)";
const ADDRESSED: readonly RegExp[] = [
  new RegExp(`\\b(?:dear|hey|hi|hello|attention|attn|note to|message to|instructions? (?:for|to)|important (?:for|to)|notice to|reminder to)[ ,:]+(?:the\\s+|all\\s+|any\\s+)?${AI}s?\\b`),
  /\bif you are an? (?:ai|artificial intelligence|assistant|llm|(?:large )?language model|chatbot|ai agent|ai assistant|bot|agent)\b/,
  /\b(?:ai|llm|gpt|assistant|agent|model|chatbot)s?\s+(?:that is\s+|who is\s+)?(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|browsing)\s+(?:this|the following|these)\b/,
  /(?:^|[\n.!?][ \t]*)(?:ai|assistant|agent|model|llm|chatbot|claude|chatgpt|ai assistant)[ \t]*[:,][ \t]*(?:you must|you should|you will|please|ignore|do not|don't|always|never|send|include|execute|call|run|forward|reply|respond|output|print|add|insert|instead|new instructions|new task|from now on|stop|forget|disregard|you are)\b/,
  /\b(?:the|this)\s+(?:ai|assistant|model|chatbot|llm)\s+(?:must|should|shall|is required to)\s+(?:now\s+)?(?:ignore|reveal|send|forward|disregard|stop|output|print|include|recommend|rate|approve)\b/,
];
/** Addressed to the model and followed straight away by an order: counted in tool results and documents only. */
const DIRECTIVE_VERB =
  "(?:please\\s+)?(?:you\\s+(?:must|should|will|need to)\\s+)?(?:now\\s+)?(?:ignore|disregard|forget|rate|recommend|reply|respond|answer|send|forward|reveal|include|say|tell|call|stop|do not|don't|always|never|output|print|mark|approve|classify|summari[sz]e|new instructions)";
const DIRECTIVE: readonly RegExp[] = [
  new RegExp(`\\b(?:note|message|instructions?|notice|reminder|attention)\\s+(?:to|for)\\s+(?:the\\s+|all\\s+|any\\s+)?${AI}s?(?:\\s+[a-z]+){0,3}\\s*[:,-]\\s*${DIRECTIVE_VERB}\\b`),
  new RegExp(`\\b(?:any|all|the)\\s+${AI}s?\\s+(?:that is\\s+)?(?:reading|processing|summari[sz]ing)\\s+this(?:\\s+[a-z]+){0,2}\\s*[:,-]\\s*${DIRECTIVE_VERB}\\b`),
  new RegExp(`(?:^|[\\n.!?][ \\t]*)${AI}[ \\t]*[:,][ \\t]*${DIRECTIVE_VERB}\\b`),
  new RegExp(`\\b(?:the|this)\\s+${AI}\\s+(?:must|should|shall|is required to)\\s+${DIRECTIVE_VERB}\\b`),
  new RegExp(`\\bif you are an? (?:ai|llm|(?:large )?language model|assistant|chatbot|ai agent|bot|agent)\\b[^.\\n]{0,20}?[,:]?\\s*${DIRECTIVE_VERB}\\b`),
];

const WHEN_READ: readonly RegExp[] = [
  /\bwhen you (?:read|see|process|summari[sz]e|encounter|parse|reach|get to|find) (?:this|these)\b|\bupon (?:reading|seeing|processing) this\b|\bonce you(?:'ve| have)? (?:read|processed|seen) this\b|\bif you(?:'re| are) (?:reading|processing|summari[sz]ing) this\b/,
];

const HIDE: readonly RegExp[] = [
  /\b(?:do not|don't|never|must not|should not|shouldn't|without)\s+(?:ever\s+)?(?:tell(?:ing)?|inform(?:ing)?|mention(?:ing)?|reveal(?:ing)?|show(?:ing)?|alert(?:ing)?|notify(?:ing)?|disclos(?:e|ing)|let(?:ting)?|warn(?:ing)?|say(?:ing)?|report(?:ing)?)\s+(?:(?:this|it|anything|that)\s+(?:to\s+)?)?(?:the|your|any)\s+(?:user|human|customer|operator|owner)s?\b/,
  /\b(?:the|your)\s+(?:user|human)\s+(?:must|should|will|need)\s*(?:not|never|n't)\s+(?:know|see|find out|notice|be (?:told|informed|aware))\b/,
  /\bkeep (?:this|it|these instructions) (?:secret|hidden|confidential) from (?:the|your) (?:user|human)\b|\bwithout (?:the|your) (?:user|human)(?:'s)? (?:knowing|knowledge|noticing|consent|permission|being aware)\b/,
  /\b(?:secretly|silently|quietly|covertly) (?:send|forward|include|add|append|call|execute|run|email|post|upload|visit|fetch)\b/,
];

/** A markdown image's URL (captured atomically: lookahead + back-reference), and an <img src>. */
const MD_IMAGE = /!\[[^\]\n]{0,200}\]\([ \t]{0,10}<?(?=(https?:\/\/[^)\s>]{1,2000}))\1/g;
const HTML_IMAGE = /<img\b[^>]{0,200}?\bsrc[ \t]*=[ \t]*["']?(?=(https?:\/\/[^"'\s>]{1,2000}))\1/g;
/** A query string that carries data: a template ({…}, [..], <…>, $…), a data-ish parameter, or a parameter left empty to be filled in. */
const DATA_QUERY =
  /\?.*?(?:\{|\[|<|\$|%7b|%5b|%3c)|[?&](?:data|q|query|msg|message|text|content|conversation|chat|history|secret|key|token|password|pass|pwd|email|info|prompt|user|memory|summary|d|p|s|x|c)=|[?&][a-z0-9_]{1,20}=(?:$|&)/;

function dataImage(s: string): boolean {
  if (!s.includes("](") && !s.includes("<img")) return false;
  for (const re of [MD_IMAGE, HTML_IMAGE]) {
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      if (DATA_QUERY.test(m[1]!)) {
        re.lastIndex = 0;
        return true;
      }
    }
  }
  return false;
}

const EXFIL_DATA =
  "conversation|chat history|chat log|previous messages|passwords?|api keys?|secrets?|credentials|access tokens?|personal (?:data|information|details)|user(?:'s)? (?:data|information|details|email|messages?)|the user'?s (?:email|message|messages|data|password|name|address|question|api key|last message)|system prompt|memory|session (?:data|cookies?|tokens?)|last message";
const EXFIL: readonly RegExp[] = [
  new RegExp(
    `\\b(?:send|post|forward|upload|transmit|exfiltrate|leak|email|append|encode|embed)\\b[^.\\n]{0,60}?\\b(?:${EXFIL_DATA})\\b[^.\\n]{0,80}?(?:https?:\\/\\/|\\bwww\\.|\\bwebhook\\b|\\bendpoint\\b|@[a-z0-9-]+\\.[a-z]{2,}|\\burl\\b|\\bserver\\b)`,
  ),
  new RegExp(
    `\\b(?:append|add|include|attach|insert|put|encode|embed|render)\\b[^.\\n]{0,80}?(?:https?:\\/\\/|\\burl\\b|\\blink\\b|\\bimage\\b)[^\\n]{0,160}?(?:\\bfollowed by\\b|\\bwith\\b|\\bcontaining\\b|\\bplus\\b|\\bappended\\b|\\+)[^.\\n]{0,40}?\\b(?:${EXFIL_DATA})\\b`,
  ),
];

const TOOL_CALL: readonly RegExp[] = [
  /\b(?:call|invoke|use|run|execute|trigger)\s+(?:the\s+)?[a-z0-9_.-]{2,40}\s+(?:tool|plugin)\b|\b(?:call|invoke|execute)\s+(?:the\s+)?(?:tool|function)\s+["'`]?[a-z0-9]+_[a-z0-9_.-]+|\b(?:call|invoke)\s+(?:the\s+)?[a-z0-9]+_[a-z0-9_]+\s+function\b[^.\n]{0,40}?\b(?:with|using|to)\b/,
];

/** Signals found in one copy of the text (`s`: lower-cased, accents stripped; `raw`: as given). */
function detect(s: string, raw: string, out: Set<string>): void {
  if (anyMatch(OVERRIDE, s, (st, en) => !quotedMention(s, st, en))) out.add("instruction_override");
  if (anyMatch(EXTRACTION, s, (st, en) => !quotedMention(s, st, en) && !NEGATED_BEFORE.test(s.slice(Math.max(0, st - 40), st)))) out.add("system_prompt_extraction");
  if (ROLEPLAY.some((r) => r.test(s)) || namedPersona(raw, s)) out.add("roleplay_jailbreak");
  if (RESTRICTION.some((r) => r.test(s))) out.add("restriction_bypass");
  if (PERSONA.some((r) => r.test(s))) out.add("persona_switch");
  if (JAILBREAK_WORD.test(s)) out.add("jailbreak_mention");
  if (ROLE_MARKER.some((r) => r.test(s))) out.add("fake_role_marker");
  if (FAKE_SYSTEM_MESSAGE.test(s)) out.add("fake_system_message");
  if (FAKE_JSON.some((r) => r.test(s))) out.add("fake_message_json");
  if (ENCODING_INSTRUCTION.some((r) => r.test(s))) out.add("encoding_instruction");
  if (ADDRESSED.some((r) => r.test(s))) out.add("addressed_to_model");
  if (DIRECTIVE.some((r) => r.test(s))) out.add("model_directive");
  if (WHEN_READ.some((r) => r.test(s))) out.add("when_you_read");
  if (HIDE.some((r) => r.test(s))) out.add("hide_from_user");
  if (dataImage(s) || EXFIL.some((r) => r.test(s))) out.add("exfiltration");
  if (TOOL_CALL.some((r) => r.test(s))) out.add("tool_invocation");
}

/** Whether any match of the global regexes passes `accept`. */
function anyMatch(res: readonly RegExp[], s: string, accept: (start: number, end: number) => boolean): boolean {
  for (const re of res) {
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      if (accept(m.index, m.index + m[0].length)) {
        re.lastIndex = 0;
        return true;
      }
      if (m[0].length === 0) re.lastIndex++;
    }
  }
  return false;
}

function namedPersona(raw: string, lower: string): boolean {
  PERSONA_NAMES.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = PERSONA_NAMES.exec(raw)) !== null) {
    const window = lower.slice(Math.max(0, m.index - 80), m.index + 120);
    if (PERSONA_CONTEXT.test(window)) {
      PERSONA_NAMES.lastIndex = 0;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Normalisation.

const MARKS = /\p{M}+/gu;
/** Lower-case and strip diacritics (NFD, combining marks removed). */
function plainCopy(lower: string): string {
  return lower.normalize("NFD").replace(MARKS, "").replace(APOSTROPHES, "'");
}
const APOSTROPHES = /[\u2018\u2019\u02BC\uFF07]/g;

/** Characters that render as nothing (zero-width, bidi controls, fillers, variation selectors). */
const INVISIBLE = /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0]|\uDB40[\uDD00-\uDDEF]/g;
/** Unicode tag characters U+E0020–U+E007E (a surrogate pair each): they mirror ASCII invisibly. */
const TAG_CHARS = /\uDB40[\uDC20-\uDC7E]/g;
const TAG_ANY = /\uDB40[\uDC00-\uDC7F]/;

/** Homoglyphs (after lower-casing) that NFKC leaves alone: Cyrillic, Greek, Latin small capitals and a few IPA letters. */
const CONFUSABLES: Readonly<Record<string, string>> = {
  а: "a", в: "b", е: "e", ё: "e", һ: "h", н: "h", і: "i", ї: "i", ј: "j", к: "k", ӏ: "l", м: "m", о: "o", р: "p", с: "c", ԛ: "q", ѕ: "s", т: "t", у: "y", ѵ: "v", ԝ: "w", х: "x", ԁ: "d", ɡ: "g", ь: "b",
  α: "a", β: "b", γ: "y", δ: "d", ε: "e", ζ: "z", η: "n", ι: "i", κ: "k", μ: "u", ν: "v", ο: "o", ρ: "p", σ: "o", ς: "c", τ: "t", υ: "u", χ: "x", ω: "w",
  ᴀ: "a", ʙ: "b", ᴄ: "c", ᴅ: "d", ᴇ: "e", ɢ: "g", ʜ: "h", ɪ: "i", ᴊ: "j", ᴋ: "k", ʟ: "l", ᴍ: "m", ɴ: "n", ᴏ: "o", ᴘ: "p", ʀ: "r", ꜱ: "s", ᴛ: "t", ᴜ: "u", ᴠ: "v", ᴡ: "w", ʏ: "y", ᴢ: "z",
  ı: "i", ɩ: "i", ɑ: "a", ɒ: "a", ɛ: "e", ɔ: "c", ʋ: "u", ⅰ: "i", ⅼ: "l", "ⅽ": "c", "ⅾ": "d", "ⅿ": "m",
};
const CONFUSABLE_RE = new RegExp(`[${Object.keys(CONFUSABLES).join("")}]`, "g");

/** Letters spaced out or dotted apart: "i g n o r e", "i.g.n.o.r.e". */
const SPACED = /(?<![a-z])(?:[a-z][ ._*\-]){3,}[a-z](?![a-z])/g;

/** The de-obfuscated copy: NFKC, tags decoded, invisibles removed, homoglyphs mapped, lower-cased, accents stripped, spaced letters joined. */
export function deobfuscate(text: string): string {
  let s = text.replace(TAG_CHARS, (c) => String.fromCharCode(c.charCodeAt(1) - 0xdc00));
  s = s.replace(INVISIBLE, "").normalize("NFKC").toLowerCase();
  s = s.replace(CONFUSABLE_RE, (c) => CONFUSABLES[c] ?? c);
  s = plainCopy(s);
  return s.replace(SPACED, (m) => m.replace(/[ ._*\-]/g, ""));
}

/** Invisible characters, not counting the ones emoji legitimately use (ZWJ, VS16, flag tag sequences). */
function countInvisible(text: string): number {
  let n = 0;
  INVISIBLE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = INVISIBLE.exec(text)) !== null) {
    const c = m[0];
    if (c === "\uFE0F" || c === "\u200D") continue;
    n++;
  }
  if (TAG_ANY.test(text)) {
    // Tag characters outside emoji flag sequences (🏴 + tags + cancel tag) count.
    const outside = text.replace(/\uD83C\uDFF4(?:\uDB40[\uDC00-\uDC7E])+\uDB40\uDC7F/g, "");
    const tags = outside.match(/\uDB40[\uDC00-\uDC7F]/g);
    n += tags ? tags.length : 0;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Encodings.

const BASE64_BLOCK = /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{20,}={0,2}(?![A-Za-z0-9+/=_-])/g;
const HEX_BLOCK = /(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){12,}(?![0-9A-Fa-f])|(?:\\x[0-9A-Fa-f]{2}){8,}|(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]){11,}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])/g;
const ROT13_MENTION = /\brot[- ]?13\b/;
const MAX_DECODE_BLOCKS = 16;
const MAX_BLOCK_CHARS = 65_536;
const MAX_DEPTH = 2;

/** Decoded bytes as text, if they look like text (≥ 90% printable, has letters and a space). */
function asText(buf: Buffer): string | undefined {
  if (buf.length < 8) return undefined;
  const s = buf.toString("utf8");
  let printable = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x20 && c < 0x7f) || c === 9 || c === 10 || c === 13 || (c >= 0xa0 && c !== 0xfffd)) printable++;
  }
  if (printable / s.length < 0.9 || !/[A-Za-z\u00C0-\uFFFF]{2}/.test(s) || !/\s/.test(s)) return undefined;
  return s;
}

function decodedBlocks(text: string): string[] {
  const out: string[] = [];
  if (text.length >= 20) {
    BASE64_BLOCK.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = BASE64_BLOCK.exec(text)) !== null && out.length < MAX_DECODE_BLOCKS) {
      const b = m[0];
      if (b.length > MAX_BLOCK_CHARS || /^[0-9A-Fa-f]+$/.test(b)) continue;
      const t = asText(Buffer.from(b.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
      if (t) out.push(t);
    }
    HEX_BLOCK.lastIndex = 0;
    while ((m = HEX_BLOCK.exec(text)) !== null && out.length < MAX_DECODE_BLOCKS) {
      if (m[0].length > MAX_BLOCK_CHARS) continue;
      const hex = m[0].replace(/\\x|[ :]/g, "");
      const t = asText(Buffer.from(hex, "hex"));
      if (t) out.push(t);
    }
  }
  return out;
}

function rot13(s: string): string {
  return s.replace(/[a-z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - 97 + 13) % 26) + 97));
}

// ---------------------------------------------------------------------------------------------
// Scoring.

const NON_ASCII = /[^\x00-\x7f]/;

function collect(text: string, depth: number, normalized: string | undefined): Set<string> {
  const found = new Set<string>();
  const lower = text.toLowerCase();
  const ascii = !NON_ASCII.test(text);
  const plain = ascii ? lower : plainCopy(lower);
  detect(plain, text, found);

  // De-obfuscated copy: scanned only when it differs.
  SPACED.lastIndex = 0;
  if (!ascii || normalized !== undefined || SPACED.test(lower)) {
    const deob = deobfuscate(normalized ?? text);
    if (deob !== plain) {
      const more = new Set<string>();
      detect(deob, text, more);
      let hidden = false;
      for (const s of more)
        if (!found.has(s)) {
          found.add(s);
          hidden = true;
        }
      if (hidden) found.add("obfuscation");
    }
  }
  if (!ascii && countInvisible(text) >= 3) found.add("invisible_characters");

  if (depth < MAX_DEPTH) {
    for (const decoded of decodedBlocks(text)) {
      const inner = collect(decoded, depth + 1, undefined);
      if (inner.size > 0) {
        for (const s of inner) found.add(s);
        found.add("encoded_payload");
      }
    }
    if (ROT13_MENTION.test(plain)) {
      const inner = new Set<string>();
      detect(rot13(plain), rot13(text), inner);
      inner.delete("jailbreak_mention");
      if (inner.size > 0) {
        for (const s of inner) found.add(s);
        found.add("encoded_payload");
      }
    }
  }
  return found;
}

/**
 * Score `text` for prompt injection. `normalized`, when the caller already has a normalised
 * form of the text (NFKC, confusables mapped), is used for the de-obfuscated pass.
 */
export function scoreInjection(text: string, source: TextSource, normalized?: string): InjectionScore {
  try {
    if (typeof text !== "string" || text.length === 0) return { score: 0, signals: [] };
    const col = column(source);
    const found = collect(text, 0, normalized);
    const signals: string[] = [];
    let keep = 1;
    for (const name of found) {
      const w = WEIGHTS.get(name)?.[col] ?? 0;
      if (w <= 0) continue;
      signals.push(name);
      keep *= 1 - w;
    }
    signals.sort((a, b) => (WEIGHTS.get(b)?.[col] ?? 0) - (WEIGHTS.get(a)?.[col] ?? 0));
    const score = Math.min(1, Math.max(0, Math.round((1 - keep) * 1000) / 1000));
    return { score, signals };
  } catch {
    return { score: 0, signals: ["scorer_error"] };
  }
}
