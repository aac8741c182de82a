// Entry point of a bench worker. Worker threads do not inherit `node --import tsx` on Node 20,
// so the TypeScript loader is registered here before the worker's real code is imported.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
