import { request as httpRequest, type IncomingMessage } from 'node:http';

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export const tick = (ms = 5): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export const text = (bytes: Uint8Array | undefined): string => new TextDecoder().decode(bytes);
export const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);

/** A stream that enqueues `first` (unless empty), then `rest` once `gate` resolves, and records a cancel. */
export function gatedStream(first: string, gate: Promise<void>, rest: string) {
  const seen = { cancelled: undefined as unknown, pulls: 0 };
  let sentFirst = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      seen.pulls++;
      if (!sentFirst && first !== '') {
        sentFirst = true;
        controller.enqueue(bytes(first));
        return;
      }
      await gate;
      controller.enqueue(bytes(rest));
      controller.close();
    },
    cancel(reason) {
      seen.cancelled = reason;
    },
  });
  return { stream, seen };
}

/** Starts a request over a real socket and resolves at the response head. */
export function open(url: string, init: { method?: string; path?: string; headers?: Record<string, string> } = {}): { req: ReturnType<typeof httpRequest>; response: Promise<IncomingMessage> } {
  const target = new URL(init.path ?? '/', url);
  const req = httpRequest(target, { method: init.method ?? 'GET', headers: init.headers, agent: false });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  return { req, response };
}

/** Reads a Node response to its end as text. */
export async function readAll(res: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return body;
}
