/**
 * Email addresses as RFC 5322 "dot-atom" local parts at a dotted domain with a TLD of letters,
 * which is what people actually write. Compiled once.
 */
const EMAIL = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}(?![A-Za-z0-9-])/g;

/**
 * Masks entities in the texts of one request. Equal values get equal placeholders
 * (`<EMAIL_1>` each time the same address appears), so the model can still tell them apart.
 */
export class EmailMasker {
  private readonly seen = new Map<string, string>();
  count = 0;

  mask(text: string): string {
    if (!text.includes("@")) return text;
    return text.replace(EMAIL, (m) => {
      this.count++;
      const key = m.toLowerCase();
      let ph = this.seen.get(key);
      if (!ph) {
        ph = `<EMAIL_${this.seen.size + 1}>`;
        this.seen.set(key, ph);
      }
      return ph;
    });
  }
}
