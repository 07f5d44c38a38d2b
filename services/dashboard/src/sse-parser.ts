/** One Server-Sent Events message as dispatched by the parser. */
export interface SseMessage {
  /** The last event id in force when the message was dispatched ('' when none was ever set). */
  id: string;
  event: string;
  data: string;
}

export interface SseParser {
  /** Feeds decoded text; calls `onMessage` for each complete message. */
  push(chunk: string): void;
  /** The last `id:` seen, even from a message without data (which sets the id but dispatches nothing). */
  lastEventId(): string;
}

/**
 * An incremental parser of the `text/event-stream` format (WHATWG HTML, "Server-sent events"):
 * CR, LF or CRLF line ends, one optional space after the colon, comments ignored, `data` lines
 * joined by "\n", a message dispatched at a blank line only when it has data. Written here
 * because EventSource cannot send an Authorization header, so the stream is read with fetch.
 */
export function createSseParser(onMessage: (m: SseMessage) => void): SseParser {
  let buffer = '';
  let lastId = '';
  let event = '';
  let data: string[] = [];
  // A chunk may end between CR and LF: remember it so the LF is not read as a second line end.
  let skipLf = false;

  const line = (text: string): void => {
    if (text === '') {
      if (data.length > 0)
        onMessage({ id: lastId, event: event === '' ? 'message' : event, data: data.join('\n') });
      event = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) lastId = value;
  };

  return {
    push(chunk) {
      let text = chunk;
      if (skipLf && text.startsWith('\n')) text = text.slice(1);
      skipLf = false;
      buffer += text;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        line(buffer.slice(start, i));
        if (c === 13) {
          if (i + 1 < buffer.length) {
            if (buffer.charCodeAt(i + 1) === 10) i++;
          } else skipLf = true;
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
    },
    lastEventId: () => lastId,
  };
}
