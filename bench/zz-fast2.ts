import express from 'express';
import { createServer, IncomingMessage } from 'node:http';
import { request, type Application } from '@ngi/core';
import { fromExpress } from '@ngi/express';
const same = (a: any, b: any) => eval('%HaveSameMap(a, b)');
function mk(reqs: any[]) { const ex = express(); ex.use((req, _res, next) => { reqs.push(req); next(); }); ex.get('/', (_q, r) => void r.type('text/plain').send('Hello World')); return ex; }
const native: any[] = []; const ours: any[] = [];
const server = createServer(mk(native) as any).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const port = (server.address() as any).port;
for (let i = 0; i < 20; i++) await (await fetch(`http://127.0.0.1:${port}/`)).text();
server.close();
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);
const app = through(fromExpress(mk(ours)));
for (let i = 0; i < 20; i++) await request(app, { url: '/' });
console.log('native same map (15,16),(16,17):', same(native[15], native[16]), same(native[16], native[17]));
console.log('ours same map:', same(ours[15], ours[16]), same(ours[16], ours[17]));
const plainA = new IncomingMessage(null as any), plainB = new IncomingMessage(null as any);
console.log('fresh IncomingMessage same:', same(plainA, plainB));
