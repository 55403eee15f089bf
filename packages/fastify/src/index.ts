export { fastifyNgi, fastifyNgi as default, type FastifyNgiOptions, type ParsedBodyMode } from './plugin.ts';
export { fromFastify, type FastifyLike } from './from-fastify.ts';
