/** What a worker tells the primary over the cluster channel. */
export type ToPrimary =
  /** It begins loading the application: --timeout bounds the start from here. */
  | { ngi: 'loading' }
  | { ngi: 'ready'; pid: number }
  | { ngi: 'boot-error'; message: string }
  | { ngi: 'beat' }
  | { ngi: 'retire'; served: number }
  /** An uncaught exception: it needs a successor now, and waits for `stop`. */
  | { ngi: 'failing' }
  /** Its servers are closed and drained; it waits for `bye` before exiting. */
  | { ngi: 'closed' };

/** What the primary tells a worker. */
export type ToWorker =
  | { ngi: 'stop'; mode: 'graceful' | 'quick' }
  | { ngi: 'bye' }
  /** USR1: reopen the access log file, which logrotate moved. */
  | { ngi: 'reopen' };
