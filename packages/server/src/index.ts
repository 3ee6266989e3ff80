export { buildServer, startServer, VERSION, type TaskPulseServer } from './app.ts';
export { DEFAULTS, resolveConfig, type ServerOptions, type ServerConfig } from './config.ts';
export type { Store, StoredEvent, TaskRecord, WriteTx } from './store/store.ts';
export { SqliteStore } from './store/sqlite/index.ts';
export type { Bus } from './bus/bus.ts';
export { MemoryBus } from './bus/memory/memory-bus.ts';
