// Temporary directories of one test file, removed when its suite ends. Each file keeps its own
// list: uvu loads every test file before running any suite, so one shared list would let an
// earlier suite's cleanup take a directory a later file made at load time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TemporaryDirs {
  /** A new empty directory under the system's temporary directory, named from `prefix`. */
  temporaryDir(prefix: string): string;
  /** Also remove `dir` (made by someone else, e.g. a child process) at the end. */
  removeLater(dir: string): void;
  /** Remove this file's directories (its suite's `after`); other files' stay. */
  removeTemporaryDirs(): void;
}

/** One test file's directories: `const { temporaryDir, removeTemporaryDirs } = temporaryDirs();`. */
export function temporaryDirs(): TemporaryDirs {
  const made: string[] = [];
  return {
    temporaryDir(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    removeLater(dir) {
      made.push(dir);
    },
    removeTemporaryDirs() {
      for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
