/**
 * Completes a lazy `Request` façade: every getter and method of the runtime's own
 * `Request.prototype` that the façade does not define forwards to what `resolve` returns,
 * so the façade has the whole interface whatever the runtime adds (srvx `lazyInherit`).
 */
export function forwardMembers(target: object, source: object, resolve: (self: any, key: PropertyKey) => any): void {
  const keys: PropertyKey[] = [...Object.getOwnPropertyNames(source), ...Object.getOwnPropertySymbols(source)];
  for (const key of keys) {
    if (key === 'constructor' || Object.prototype.hasOwnProperty.call(target, key)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(source, key)!;
    if (descriptor.get !== undefined) {
      Object.defineProperty(target, key, {
        configurable: true,
        enumerable: descriptor.enumerable ?? false,
        get(this: object) {
          return resolve(this, key)[key];
        },
      });
    } else if (typeof descriptor.value === 'function') {
      Object.defineProperty(target, key, {
        configurable: true,
        writable: true,
        enumerable: descriptor.enumerable ?? false,
        value: function (this: object, ...args: unknown[]) {
          const native = resolve(this, key);
          return (native[key] as (...a: unknown[]) => unknown).apply(native, args);
        },
      });
    }
  }
}

/**
 * Forwards the runtime's internal symbol-keyed slots of a native instance (undici 6 keeps its
 * state under own symbols), so `new Request(facade)` copies the materialized request instead
 * of failing. Runtimes that keep private fields (undici 7) have none, and gain nothing.
 */
export function forwardSlots(target: object, sample: object, resolve: (self: any) => any): void {
  for (const key of Object.getOwnPropertySymbols(sample)) {
    if (Object.prototype.hasOwnProperty.call(target, key)) continue;
    Object.defineProperty(target, key, {
      configurable: true,
      get(this: object) {
        return resolve(this)[key];
      },
    });
  }
}
