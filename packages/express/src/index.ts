export { toExpress, type ToExpressOptions, type ParsedBodyMode } from './to-express.ts';
export { fromExpress, type FromExpressOptions, type ExpressApp } from './from-express.ts';
