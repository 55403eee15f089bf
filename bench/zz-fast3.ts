import express from 'express';
import { request, type Application } from '@ngi/core';
import { fromExpress } from '@ngi/express';
import { IncomingMessage } from 'node:http';
const same = (a: any, b: any) => eval('%HaveSameMap(a, b)');
const snaps: any[][] = [];
const ex = express();
ex.use((req, _res, next) => { const s: any[] = []; snaps.push(s); s.push(Object.assign(Object.create(null), { m: req })); next(); });
ex.get('/', (_q, r) => void r.type('text/plain').send('Hello World'));
// Track a clone-free map check at points: we can't snapshot a map, so compare objects at the same point across requests
const at: Record<string, any[]> = { start: [] };
const ex2 = express();
ex2.use((req, _res, next) => { at.start!.push(req); next(); });
ex2.get('/', (_q, r) => void r.type('text/plain').send('Hello World'));
const app = fromExpress(ex2);
const through = (a: Application): Application => (e, s) => a(e, s);
// compare maps at time of the first middleware: need to compare *then*, so do it inline
let prev: any; const results: boolean[] = [];
const ex3 = express();
ex3.use((req, _res, next) => { if (prev) results.push(same(prev, req)); prev = req; next(); });
ex3.get('/', (_q, r) => void r.type('text/plain').send('Hello World'));
for (let i = 0; i < 10; i++) await request(through(fromExpress(ex3)), { url: '/' });
console.log('at first middleware, consecutive same:', results.join(','));
// plain: setPrototypeOf of fresh IncomingMessages to the same proto
const proto = Object.create(IncomingMessage.prototype);
const a = new IncomingMessage(null as any); Object.setPrototypeOf(a, proto);
const b = new IncomingMessage(null as any); Object.setPrototypeOf(b, proto);
console.log('after setPrototypeOf same proto:', same(a, b));
(a as any).x = 1; (b as any).x = 1; console.log('then add prop:', same(a, b));
