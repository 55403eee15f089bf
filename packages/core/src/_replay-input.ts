import { HttpError } from './errors.ts';

interface Cursor {
  /** Index, in the order the source produced them, of the next chunk this reader gets. */
  index: number;
  finished: boolean;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * The most chunks kept for `limit` bytes: 64, and one more per 256 bytes. Each costs about 250
 * bytes of its own (an ArrayBuffer, a view), so a body sent a byte at a time, counted by its
 * bytes alone, held some 275 times the limit.
 */
function chunkLimit(limit: number): number {
  return 64 + Math.floor(limit / 256);
}

/**
 * One request body (`ngi.input`) shared by the applications a cascade tries in turn.
 * Rack's input is rewindable and Rack::Cascade relies on it; ours is a one-pass stream,
 * so the bytes are recorded (up to `limit`) as they pass, and each later reader replays
 * them before it goes on reading the source where the earlier reader stopped.
 */
export class ReplayInput {
  private iterator: AsyncIterator<Uint8Array> | undefined;
  private readonly recorded: (Uint8Array | undefined)[] = [];
  private recordedBytes = 0;
  private recordedChunks = 0;
  private readonly maxChunks: number;
  /** Chunks taken from the source; `recorded` holds the first ones unless `overflowed`. */
  private pulled = 0;
  private overflowed = false;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private pending: Promise<unknown> | undefined;
  private generation = 0;
  /**
   * No later reader will come (an application answered, or the last one reads): nothing more is
   * recorded, and each recorded chunk is let go once replayed, so the body's bytes are not held
   * for as long as the response streams.
   */
  private final = false;
  /** Where the latest reader is, once it started reading. */
  private current: Cursor | undefined;

  constructor(
    private readonly source: AsyncIterable<Uint8Array>,
    private readonly limit: number,
  ) {
    this.maxChunks = chunkLimit(limit);
  }

  /**
   * A fresh `ngi.input` for the next application: it starts at the body's first byte.
   * Readers handed out before stop working, so a discarded app cannot steal chunks.
   * `record`: a later application may need to replay what this one reads.
   */
  reader(record: boolean): AsyncIterable<Uint8Array> {
    const generation = ++this.generation;
    if (!record) this.final = true;
    this.current = undefined;
    let used = false;
    return {
      [Symbol.asyncIterator]: () => {
        if (used) throw new TypeError('§4.3: ngi.input can be iterated once');
        used = true;
        const cursor: Cursor = { index: 0, finished: false };
        if (generation === this.generation) this.current = cursor;
        return {
          next: () => this.read(cursor, generation, record),
          // Leaves the source open: a later application may still need the rest (§12.3 drains it).
          return: async () => ((cursor.finished = true), DONE),
        };
      },
    };
  }

  /**
   * The application reading now answered: no later one will replay what it reads, nor what it
   * read before it answered (a body parsed before the head).
   */
  commit(): void {
    this.final = true;
    const read = this.current?.index ?? 0;
    for (let i = 0; i < read; i++) {
      const chunk = this.recorded[i];
      if (chunk !== undefined) this.forget(chunk);
    }
    this.recorded.fill(undefined, 0, read);
  }

  private async read(cursor: Cursor, generation: number, record: boolean): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      if (cursor.finished) return DONE;
      if (generation !== this.generation) {
        throw new Error('cascade: this response was discarded; ngi.input now belongs to the next application');
      }
      if (cursor.index < this.pulled) return { done: false, value: this.replay(cursor) };
      if (this.failure) throw this.failure.error;
      if (this.ended) return DONE;
      if (this.pending === undefined) {
        const pull = this.pull(cursor, generation, record);
        this.pending = pull;
        try {
          return await pull;
        } finally {
          this.pending = undefined;
        }
      }
      // Another reader (a discarded app still reading) is pulling; its chunk is recorded for us.
      await this.pending.catch(() => {});
    }
  }

  private replay(cursor: Cursor): Uint8Array {
    const chunk = this.overflowed ? undefined : this.recorded[cursor.index];
    if (chunk === undefined) {
      throw new HttpError(
        413,
        `cascade: the request body passed the ${this.limit}-byte replay limit (in at most ${this.maxChunks} chunks) while an earlier application read it`,
      );
    }
    if (this.final) {
      // The one reader left reads each chunk once: it may have this one.
      this.recorded[cursor.index++] = undefined;
      this.forget(chunk);
      return chunk;
    }
    cursor.index++;
    return copy(chunk); // each reader owns its bytes: an app that writes into a chunk can't change the replay
  }

  private async pull(cursor: Cursor, generation: number, record: boolean): Promise<IteratorResult<Uint8Array>> {
    let step: IteratorResult<Uint8Array>;
    try {
      this.iterator ??= this.source[Symbol.asyncIterator]();
      step = await this.iterator.next();
    } catch (error) {
      this.failure = { error };
      throw error;
    }
    if (step.done) {
      this.ended = true;
      return DONE;
    }
    // A reader discarded while it pulled leaves the chunk to the reader now current, which
    // replays it, even the last one: unrecorded, it would find a hole and answer 413.
    const stale = generation !== this.generation;
    if (record && (stale || !this.final) && !this.overflowed) this.keep(step.value);
    this.pulled++;
    cursor.index = this.pulled;
    return step;
  }

  private keep(chunk: Uint8Array): void {
    if (this.recordedBytes + chunk.byteLength > this.limit || this.recordedChunks === this.maxChunks) {
      // Past the limit the replay can't be complete: free it; later readers get a 413.
      this.overflowed = true;
      this.recorded.length = 0;
      return;
    }
    this.recorded.push(copy(chunk));
    this.recordedBytes += chunk.byteLength;
    this.recordedChunks++;
  }

  /** A recorded chunk let go. */
  private forget(chunk: Uint8Array): void {
    this.recordedBytes -= chunk.byteLength;
    this.recordedChunks--;
  }
}

/** A copy of the bytes: a Buffer's own `slice()` is a view of the same memory. */
function copy(chunk: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(chunk);
}
