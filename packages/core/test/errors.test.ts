import { describe, expect, it } from 'vitest';
import { HttpError, request, type Application } from '../src/index.ts';

describe('HttpError', () => {
  it('§11.1 is answered with its status and message', async () => {
    const app: Application = () => {
      throw new HttpError(418, 'short and stout');
    };
    const res = await request(app);
    expect([res.status, res.text(), res.errors]).toEqual([418, 'short and stout', []]);
  });

  it.each([200, 302, 42, 1000, 404.5, Number.NaN])('rejects the status %s, which is not an error status, with a TypeError', (status) => {
    // Thrown later, a 200 would present the error as a success, and a 42 makes Node's writeHead throw.
    expect(() => new HttpError(status, 'x')).toThrow(new TypeError(`HttpError: status must be an error status from 400 to 599, got ${status}`));
  });
});
