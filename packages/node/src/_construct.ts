/**
 * Node's `IncomingMessage` and `ServerResponse` are plain constructor functions, so an instance
 * can be made with another prototype from the start; were they classes, it is re-parented.
 */
const callable = (ctor: Function): boolean => !Function.prototype.toString.call(ctor).startsWith('class');

/**
 * `new ctor(arg)`, the instance inheriting from `proto` when given. A framework that re-parents
 * every request to its own prototypes (Express: `app.request`, `app.response`) then finds them
 * in place. Re-parenting an object makes V8 give every later property it gets a shape of its
 * own per object, so every access on it, the framework's own among them, misses its caches.
 */
export function construct<A, T extends object>(ctor: new (arg: A) => T, proto: object | undefined, arg: A): T {
  if (proto === undefined) return new ctor(arg);
  if (!callable(ctor)) return Object.setPrototypeOf(new ctor(arg), proto) as T;
  const instance = Object.create(proto) as T;
  (ctor as unknown as (this: T, arg: A) => void).call(instance, arg);
  return instance;
}
