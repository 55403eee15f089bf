export { main, type MainOptions } from './main.ts';
export { loadApplication, loadSettings, parseSpec, type LoadApplicationOptions, type LoadedSettings } from './load.ts';
export { getSettings, runWithSettings, withSettings, type Settings } from './settings.ts';
export { accessLog, compileFormat, LOG_FORMATS, type AccessLogOptions } from './access-log.ts';
export type { Exchange } from './_log-line.ts';
export { newProject } from './new-project.ts';
export { UsageError, LoadError } from './_errors.ts';
