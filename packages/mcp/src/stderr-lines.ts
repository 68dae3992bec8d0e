import type { Readable } from 'node:stream';

/** The longest upstream stderr line passed on whole; the rest of a longer one is dropped. */
export const MAX_STDERR_LINE_BYTES = 8 * 1024;

/**
 * Calls `onLine` with each line of `input` (without its \n or \r\n). A line longer than `maxBytes` is
 * passed on cut to its first `maxBytes` bytes with a marker saying so, as soon as that much has arrived,
 * and the rest of it, up to the next newline, is dropped. Unlike readline, which holds a line without a
 * newline in memory however long it grows, at most `maxBytes` of a line is ever held: an upstream
 * writing megabytes without a newline cannot grow the gateway's memory or flood its log.
 */
export function forEachLine(
  input: Readable,
  onLine: (line: string) => void,
  maxBytes = MAX_STDERR_LINE_BYTES,
): void {
  let held: Buffer[] = [];
  let heldBytes = 0;
  // After a cut, the rest of that line is skipped until its newline.
  let skipping = false;
  const emit = (buf: Buffer, cut: boolean) => {
    let text = buf.toString('utf8');
    if (!cut && text.endsWith('\r')) text = text.slice(0, -1);
    onLine(cut ? `${text}… [line cut at ${maxBytes} bytes]` : text);
  };
  const take = (part: Buffer) => {
    if (skipping || part.length === 0) return;
    const room = maxBytes - heldBytes;
    if (part.length <= room) {
      held.push(part);
      heldBytes += part.length;
      return;
    }
    held.push(part.subarray(0, room));
    emit(Buffer.concat(held), true);
    held = [];
    heldBytes = 0;
    skipping = true;
  };
  input.on('data', (chunk: Buffer | string) => {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10)) {
      take(buf.subarray(0, nl));
      if (!skipping) emit(Buffer.concat(held), false);
      held = [];
      heldBytes = 0;
      skipping = false;
      buf = buf.subarray(nl + 1);
    }
    take(buf);
  });
  input.on('end', () => {
    if (heldBytes > 0 && !skipping) emit(Buffer.concat(held), false);
    held = [];
    heldBytes = 0;
  });
}
