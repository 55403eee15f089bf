import { IncomingMessage, ServerResponse, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Node's `IncomingMessage` and `ServerResponse` are plain constructor functions, so an instance
 * can be made with another prototype from the start; were they classes, it is re-parented.
 */
const callable = (ctor: Function): boolean => !Function.prototype.toString.call(ctor).startsWith('class');
const CALLABLE = callable(IncomingMessage) && callable(ServerResponse);

/**
 * `new ctor(arg)` for `IncomingMessage` or `ServerResponse`, the instance inheriting from
 * `proto` when given. A framework that re-parents every request to its own prototypes
 * (Express: `app.request`, `app.response`) then finds them in place. Re-parenting an object makes V8 give every later property it gets a shape of its
 * own per object, so every access on it, the framework's own among them, misses its caches.
 */
export function construct<A, T extends object>(ctor: new (arg: A) => T, proto: object | undefined, arg: A): T {
  if (proto === undefined) return new ctor(arg);
  if (!CALLABLE) return Object.setPrototypeOf(new ctor(arg), proto) as T;
  const instance = Object.create(proto) as T;
  (ctor as unknown as (this: T, arg: A) => void).call(instance, arg);
  return instance;
}

/**
 * `http.createServer` options whose requests and responses are made with `prototypes`, for a
 * server that hands them straight to a listener that re-parents them (Express); none where
 * Node's classes cannot be called.
 */
export function serverClasses(prototypes: { request: object; response: object }): Pick<ServerOptions, 'IncomingMessage' | 'ServerResponse'> {
  if (!CALLABLE) return {};
  function Request(this: IncomingMessage, socket: Socket): void {
    (IncomingMessage as unknown as (this: IncomingMessage, socket: Socket) => void).call(this, socket);
  }
  Request.prototype = prototypes.request;
  function Response(this: ServerResponse, req: IncomingMessage, options?: unknown): void {
    (ServerResponse as unknown as (this: ServerResponse, req: IncomingMessage, options?: unknown) => void).call(this, req, options);
  }
  Response.prototype = prototypes.response;
  return { IncomingMessage: Request as unknown as typeof IncomingMessage, ServerResponse: Response as unknown as typeof ServerResponse };
}
