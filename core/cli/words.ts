/**
 * Splits a flag's value into words as a POSIX shell would (quotes and backslashes, no expansion),
 * so `--mpi-args "--host 'a:2,b:2'"` and `--ssh-command "ssh -F '/my dir/cfg'"` become argument lists.
 */

/** The words of `text`; throws an Error naming `what` when a quote is left open. */
export function splitWords(text: string, what: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`${what} has an unclosed ${quote} quote: ${JSON.stringify(text)}`);
  if (inWord) words.push(word);
  return words;
}
