import { concatBytes } from '@ngi/core';

/**
 * `ngi.input` as a `ReadableStream`: one chunk is pulled from the iterator per read, so the
 * upload flows only as fast as the handler reads it (highWaterMark 0). Cancelling ends the
 * iteration; what is left is the NGI server's to drain (§12.3). `onUse` runs at the first read
 * or cancel, the moment the fetch spec calls the body "disturbed".
 */
export function inputStream(input: AsyncIterable<Uint8Array>, onUse: () => void): ReadableStream<Uint8Array> {
  let iterator: AsyncIterator<Uint8Array> | undefined;
  let reading = false;
  let cancelled = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        onUse();
        iterator ??= input[Symbol.asyncIterator]();
        for (;;) {
          reading = true;
          const step = await iterator.next().finally(() => (reading = false));
          if (cancelled) return;
          if (step.done === true) return controller.close();
          // An empty chunk would end a reader's loop early in some consumers; skip it.
          if (step.value.byteLength === 0) continue;
          return controller.enqueue(step.value);
        }
      },
      async cancel() {
        onUse();
        cancelled = true;
        const returned = iterator?.return?.();
        // An async generator runs return() only after the next() it is suspended in, which a
        // stalled upload may never finish: not waited for then, as §9.5 allows for response bodies.
        if (reading) returned?.catch(() => {});
        else await returned;
      },
    },
    { highWaterMark: 0 },
  );
}

/** Reads `ngi.input` whole, for `text()`/`json()`/`arrayBuffer()`: no stream in between. */
export async function readInput(input: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of input) {
    parts.push(part);
    total += part.byteLength;
  }
  return parts.length === 0 ? new Uint8Array(0) : concatBytes(parts, total);
}

/** Reads a body stream whole (after `request.body` was handed out, the stream owns the bytes). */
export async function readStream(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let step = await reader.read(); !step.done; step = await reader.read()) {
    parts.push(step.value);
    total += step.value.byteLength;
  }
  return parts.length === 0 ? new Uint8Array(0) : concatBytes(parts, total);
}

/** The bytes as an `ArrayBuffer` of exactly their length (a Node Buffer may share a larger pool). */
export function exactBuffer(bytes: Uint8Array): ArrayBuffer {
  const { buffer, byteOffset, byteLength } = bytes;
  if (byteOffset === 0 && byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) return buffer;
  return bytes.slice().buffer as ArrayBuffer;
}
