/**
 * GPT-2's reversible bytes <-> unicode mapping, used by every byte-level BPE vocabulary (GPT-2,
 * RoBERTa, Llama 3, Qwen, and the `tokenizer.json` files Hugging Face writes for them).
 *
 * A vocabulary must be printable text, so each of the 256 bytes gets one visible character: the
 * 188 bytes that are already printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves,
 * and the other 68 (controls, space, 0x7F-0xA0, 0xAD) map in byte order to U+0100, U+0101, ...
 *
 *   byte 0x20 ' '  -> 'Ġ' (U+0120)      so " hello" is the token "Ġhello"
 *   byte 0x0A '\n' -> 'Ċ' (U+010A)      so "\n\n" is "ĊĊ"
 *   byte 0x41 'A'  -> 'A'               printable bytes are unchanged
 *   bytes E4 BD A0 ('你') -> 'ä½ł'       each byte of a multi-byte character separately
 */

/** BYTE_TO_CHAR[b] is the one-character string standing for byte b. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** CHAR_CODE_TO_BYTE[c] is the byte for the char code c (c < 0x144), or -1 if c stands for no byte. */
export const CHAR_CODE_TO_BYTE: Int16Array = buildCharCodeToByte();

function buildByteToChar(): string[] {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
  return out;
}

function buildCharCodeToByte(): Int16Array {
  const out = new Int16Array(0x144).fill(-1);
  for (let b = 0; b < 256; b++) out[BYTE_TO_CHAR[b].charCodeAt(0)] = b;
  return out;
}

/** Bytes to their byte-level string: `bytesToUnicode([0x20, 0x68, 0x69])` is `"Ġhi"`. */
export function bytesToUnicode(bytes: ArrayLike<number>, start = 0, end = bytes.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/**
 * A byte-level string back to its bytes: `unicodeToBytes("Ġhi")` is `[0x20, 0x68, 0x69]`.
 * Returns undefined if a character stands for no byte (the string is not byte-level text, e.g. an
 * added token like "<|endoftext|>" is fine, since all its characters are printable ASCII, but "é" is not).
 */
export function unicodeToBytes(s: string): Uint8Array | undefined {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const b = c < 0x144 ? CHAR_CODE_TO_BYTE[c] : -1;
    if (b < 0) return undefined;
    out[i] = b;
  }
  return out;
}

/** The 256 characters of the byte-level alphabet, in byte order (the trainer's initial alphabet). */
export function byteLevelAlphabet(): string[] {
  return BYTE_TO_CHAR.slice();
}
