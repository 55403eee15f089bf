import type { AddressInfo } from 'node:net';
import { server } from './app.ts';

const http = server().listen(Number(process.env.PORT ?? 8000), '127.0.0.1', () => {
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  console.log(`${url}/ and ${url}/legacy/`);
});
