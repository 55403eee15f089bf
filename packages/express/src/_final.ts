import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';

type Done = (error?: unknown) => void;

/**
 * The `done` callback an Express app calls when no handler answered: Express's own final
 * handler renders a 404 page that ends the exchange (koa#846 for the same trap in Koa); this
 * one marks it `x-cascade: pass` so a dispatcher can try another application (§14.1). A
 * client error (body-parser's 400, 413, 415) is answered with its status, as Express would;
 * any other error rejects, so the NGI server answers 500 and logs it (§11.1), or the host
 * framework's error handlers get it (`toExpress`).
 */
export function finalHandler(req: IncomingMessage, res: ServerResponse, reject: (error: unknown) => void): Done {
  return (error) => {
    if (error == null || error === 'router') return notFound(req, res);
    const status = clientErrorStatus(error);
    if (status === undefined || res.headersSent) return reject(error);
    const headers = (error as { headers?: unknown }).headers;
    sendPage(req, res, status, STATUS_CODES[status] ?? 'Error', typeof headers === 'object' ? headers : null);
  };
}

function notFound(req: IncomingMessage, res: ServerResponse): void {
  if (res.headersSent) {
    // A handler started a response and passed the request on: it cannot be completed.
    if (!res.writableEnded) res.destroy();
    return;
  }
  const target = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  const path = target.split('?', 1)[0]!;
  res.setHeader('x-cascade', 'pass');
  sendPage(req, res, 404, `Cannot ${req.method} ${path.replace(NOT_IN_URL, encodeURI)}`, null);
}

/**
 * What finalhandler's page percent-encodes in the path it shows (with encodeurl): characters a
 * URL does not keep as they are (`<`, `"`, `{`, a space), and a `%` that starts no escape.
 */
const NOT_IN_URL = /[^\x21\x23-\x3B\x3D\x3F-\x5F\x61-\x7A\x7C\x7E]+|%(?![0-9A-Fa-f]{2})/g;

/** An error page shaped like Express's own (finalhandler), so an app looks the same through the adapter. */
function sendPage(req: IncomingMessage, res: ServerResponse, status: number, message: string, headers: object | null): void {
  const body =
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n' +
    `<pre>${escapeHtml(message)}</pre>\n</body>\n</html>\n`;
  res.statusCode = status;
  for (const name of ['content-encoding', 'content-language', 'content-range']) res.removeHeader(name);
  if (headers !== null) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value as string);
  res.setHeader('content-security-policy', "default-src 'none'");
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** An `http-errors`-style client error status (`status` or `statusCode`, 400–499), as Express reads it. */
function clientErrorStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
  const code = typeof status === 'number' ? status : statusCode;
  return typeof code === 'number' && Number.isInteger(code) && code >= 400 && code <= 499 ? code : undefined;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}
