// Every repository file that a document or a source comment names exists. Files move (and the
// design notes the project started from were never part of it); a comment that sends the reader
// to a file that is not there is worse than none. Scanned: README.md, ARCHITECTURE.md,
// BENCHMARKS.md, and the comments (not the code) of every .ts/.mjs/.py/.c file in the source
// folders. A name counts when it is:
//   - a path starting with one of this repository's top-level folders (`src/wasm/abi.ts`,
//     `test/fixtures/kernel/`); it must be a file or a folder, or a build output that .gitignore
//     lists (`dist/index.mjs`, `bench/results/latest.json`); a glob (`assembly/layout/*`) must
//     match some file;
//   - a path inside a folder that exists below the top level (`interop/tshark.test.ts`,
//     `layout/ipv4.ts`), with an extension files here have: some file's path must end with it;
//   - a bare file name with one of this project's source extensions, or an upper-case `*.md`:
//     some file must have that name;
//   - one name that is never a file here: the design notes the project was planned from, which
//     it does not hold (ARCHITECTURE.md is the repository's own account).
// URLs are skipped, and so are names from other projects (wireguard-go's `device/send.go`): no
// folder of this repository is called `device`, and `.go` is no extension of ours.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const DOCUMENTS = ['README.md', 'ARCHITECTURE.md', 'BENCHMARKS.md'];
const SOURCE_FOLDERS = ['src', 'assembly', 'test', 'bench', 'scripts'];
const SOURCE_EXTENSIONS = ['.ts', '.mjs', '.py', '.c'];
/** Bare file names with these extensions are checked too: they can only mean a file of ours. */
const BARE_NAME_EXTENSIONS = ['.ts', '.mts', '.mjs', '.cjs', '.py', '.c'];
/** Never a file of this repository; cited nonetheless, it sends the reader nowhere. */
const FORBIDDEN_NAMES: Record<string, string> = {
  'DESIGN.md': 'is not in the repository: cite ARCHITECTURE.md or the source file that says it',
};

// ---------------------------------------------------------------------------------------------
// The repository's files, and what .gitignore says the build and the runs produce.

/** .gitignore patterns as regular expressions over slash-separated paths from the root. */
function ignoredPatterns(): RegExp[] {
  const lines = readFileSync(`${root}.gitignore`, 'utf8').split('\n').map((line) => line.trim());
  return lines.filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('!')).map((pattern) => {
    const folder = pattern.endsWith('/');
    const body = pattern.replace(/^\/|\/$/g, '');
    // A pattern with a slash in it is anchored at the root; one without matches at any depth.
    const anchored = body.includes('/');
    const glob = body.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*');
    return new RegExp(`${anchored ? '^' : '(^|/)'}${glob}${folder ? '(/|$)' : '($|/)'}`);
  });
}

const ignored = ignoredPatterns();
const isIgnored = (path: string) => ignored.some((pattern) => pattern.test(path));

interface Tree {
  files: string[];
  folders: Set<string>;
}

/**
 * The repository's files: what git tracks, where this is a git checkout (so an npm cache, a
 * result or a scratch file lying in the working tree is never judged, nor taken for a file of the
 * repository); else every file on disk that .gitignore does not exclude.
 */
function repositoryTree(): Tree {
  const listed = spawnSync('git', ['-C', root, 'ls-files', '-z'], { encoding: 'utf8' });
  if (listed.status !== 0 || listed.stdout === '') return walk();
  const tree: Tree = { files: [], folders: new Set() };
  for (const path of listed.stdout.split('\0')) {
    // A tracked file deleted in the working tree (a move not yet committed) is not there to cite.
    if (path === '' || !exists(path)) continue;
    tree.files.push(path);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) tree.folders.add(parts.slice(0, i).join('/'));
  }
  return tree;
}

function walk(): Tree {
  const tree: Tree = { files: [], folders: new Set() };
  const visit = (folder: string) => {
    for (const entry of readdirSync(`${root}${folder}`, { withFileTypes: true })) {
      const path = folder === '' ? entry.name : `${folder}/${entry.name}`;
      if (entry.name === '.git' || isIgnored(path)) continue;
      if (entry.isDirectory()) {
        tree.folders.add(path);
        visit(path);
      } else {
        tree.files.push(path);
      }
    }
  };
  visit('');
  return tree;
}

const tree = repositoryTree();
const topLevelFolders = [...tree.folders].filter((folder) => !folder.includes('/'));
/** Names of folders below the top level (`wasm`, `layout`, `interop`, `fixtures`, …). */
const innerFolderNames = new Set([...tree.folders].filter((folder) => folder.includes('/')).map((folder) => folder.split('/').pop()!));
const fileNames = new Set(tree.files.map((file) => file.split('/').pop()!));
/** Extensions of the files here (`.ts`, `.json`, `.pcap`, …): a name with another is not ours. */
const extensions = new Set(tree.files.map(extensionOf).filter((extension) => extension !== ''));
/** What the build and the runs produce is named legitimately though it may not exist yet. */
const ignoredFileNames = readFileSync(`${root}.gitignore`, 'utf8').split('\n')
  .map((line) => line.trim().replace(/\/$/, '').split('/').pop()!).filter((name) => name !== '' && !name.includes('*'));

function extensionOf(path: string): string {
  const name = path.split('/').pop()!;
  const dot = name.indexOf('.', 1);
  return dot < 0 ? '' : name.slice(name.lastIndexOf('.'));
}

function exists(path: string): boolean {
  try {
    statSync(`${root}${path}`);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Comments: the text of a source file with everything but its comments blanked out, line
// breaks kept, so that a name's line number is its line in the file.

/** JavaScript, TypeScript, AssemblyScript and C: `//` and `/* … *\/` comments. */
function commentsOfCLike(text: string): string {
  let out = '';
  let i = 0;
  /** The last character of code that was not a space: decides whether `/` starts a regex. */
  let previous = '';
  const blank = (from: number, to: number) => {
    out += text.slice(from, to).replace(/[^\n]/g, ' ');
  };
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i) < 0 ? text.length : text.indexOf('\n', i);
      out += text.slice(i, end);
      i = end;
    } else if (c === '/' && next === '*') {
      const close = text.indexOf('*/', i + 2);
      const end = close < 0 ? text.length : close + 2;
      out += text.slice(i, end);
      i = end;
    } else if (c === '"' || c === "'" || c === '`') {
      // A string or template literal (a `${}` inside a template is treated as its text: no comment sits there).
      let j = i + 1;
      while (j < text.length && text[j] !== c && !(c !== '`' && text[j] === '\n')) j += text[j] === '\\' ? 2 : 1;
      blank(i, j + 1);
      i = j + 1;
      previous = c;
    } else if (c === '/' && (previous === '' || '(,=:[!&|?{};+-*%<>~^'.includes(previous) || /\breturn\s*$/.test(text.slice(Math.max(0, i - 8), i)))) {
      // A regular expression literal: up to the first unescaped `/` outside a character class.
      let j = i + 1;
      let inClass = false;
      while (j < text.length && text[j] !== '\n' && (inClass || text[j] !== '/')) {
        if (text[j] === '\\') j++;
        else if (text[j] === '[') inClass = true;
        else if (text[j] === ']') inClass = false;
        j++;
      }
      blank(i, j + 1);
      i = j + 1;
      previous = '/';
    } else {
      out += c === '\n' ? '\n' : ' ';
      if (!/\s/.test(c)) previous = c;
      i++;
    }
  }
  return out;
}

/** Python: `#` comments and triple-quoted strings (docstrings). */
function commentsOfPython(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const triple = text.slice(i, i + 3);
    if (triple === '"""' || triple === "'''") {
      const close = text.indexOf(triple, i + 3);
      const end = close < 0 ? text.length : close + 3;
      out += text.slice(i, end);
      i = end;
    } else if (c === '#') {
      const end = text.indexOf('\n', i) < 0 ? text.length : text.indexOf('\n', i);
      out += text.slice(i, end);
      i = end;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1).replace(/[^\n]/g, ' ');
      i = j + 1;
    } else {
      out += c === '\n' ? '\n' : ' ';
      i++;
    }
  }
  return out;
}

function commentsOf(path: string, text: string): string {
  return path.endsWith('.py') ? commentsOfPython(text) : commentsOfCLike(text);
}

// ---------------------------------------------------------------------------------------------
// Names in a line of prose, and what is wrong with one.

/** Runs of the characters a path is made of; a leading `./` or `../` is kept so it can be skipped. */
const NAME = /(?<![\w@$-])(?:\.{1,2}\/)*[\w.*…-]+(?:\/[\w.*…-]*)*/g;
const URL_LIKE = /\b[a-z][a-z0-9+.-]*:\/\/\S*|\bgithub\.com\/\S*/gi;

/** Every (name, problem) in one line, for the names this test checks. */
function problemsIn(line: string): { name: string; problem: string }[] {
  const found: { name: string; problem: string }[] = [];
  for (const match of line.replace(URL_LIKE, ' ').matchAll(NAME)) {
    // Sentence punctuation is not part of a name: `see src/api.ts.` or `(in assembly/).`
    const name = match[0].replace(/[.,:;-]+$/, '');
    const problem = problemOf(name);
    if (problem !== undefined) found.push({ name, problem });
  }
  for (const match of line.replace(URL_LIKE, ' ').matchAll(SYMBOL_IN_FILE)) {
    const [, quote, symbol, file] = match;
    // Only what is clearly code: a `quoted` name or a camelCase one ("the checks in decap.ts" is prose).
    if (quote === '' && !/[a-z][A-Z]/.test(symbol)) continue;
    const candidates = filesNamed(file);
    if (candidates.length > 0 && !candidates.some((candidate) => new RegExp(`\\b${symbol.replace(/\$/g, '\\$')}\\b`).test(readFileSync(`${root}${candidate}`, 'utf8')))) {
      found.push({ name: `${symbol} in ${file}`, problem: `names no ${symbol} in ${candidates.join(', ')}` });
    }
  }
  return found;
}

/** "`decapFrame` in assembly/decap.ts", "fillPacketFields in encap.ts": a name said to be in a file. */
const SYMBOL_IN_FILE = /(`?)\b([A-Za-z_$][\w$]*)(?:\(\))?\1 in `?((?:[\w.-]+\/)*[\w.-]+\.(?:ts|mjs|py|c))\b/g;

/** The files a name may mean: the path itself, or every file whose path ends with it. */
function filesNamed(name: string): string[] {
  if (tree.files.includes(name)) return [name];
  return tree.files.filter((file) => file.endsWith(`/${name}`));
}

/** Why `name` is a bad reference, or undefined when it is fine or not a name this test checks. */
function problemOf(name: string): string | undefined {
  if (Object.hasOwn(FORBIDDEN_NAMES, name)) return FORBIDDEN_NAMES[name];
  // Relative module specifiers (`./helpers`, `../../src/wasm/abi`) are checked by the compiler.
  if (name.startsWith('./') || name.startsWith('../')) return undefined;
  const segments = name.split('/');
  const bare = segments.length === 1;
  // A placeholder (`FILE`, `N`, `NAME.ts`, `…`, `...`) stands for any name.
  if (segments.some((segment) => segment.includes('…') || segment.includes('...') || /^[A-Z]$|^[A-Z]{2,}(\.(ts|mjs|cjs|c|py|json))?$/.test(segment))) return undefined;
  if (!bare && topLevelFolders.includes(segments[0])) {
    // What the build and the runs write (bench/results/*.json, bench/native/*.out) is not in a checkout.
    if (name.includes('*') && isIgnored(name)) return undefined;
    if (name.includes('*')) {
      const glob = new RegExp(`^${name.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}`);
      return tree.files.some((file) => glob.test(file)) ? undefined : 'matches no file';
    }
    const path = name.replace(/\/$/, '');
    // A module named as it is imported (`test/helpers/frames`) is its file with an extension.
    if (exists(path) || isIgnored(path) || SOURCE_EXTENSIONS.some((extension) => exists(`${path}${extension}`))) return undefined;
    return 'does not exist';
  }
  const extension = extensionOf(name);
  // `*.ts` and `.d.mts` speak of kinds of files, not of one file.
  if (name.includes('*') || name.startsWith('.')) return undefined;
  if (!bare && innerFolderNames.has(segments[0]) && extensions.has(extension)) {
    return tree.files.some((file) => file.endsWith(`/${name}`)) ? undefined : 'is no file of the repository';
  }
  if (bare && (BARE_NAME_EXTENSIONS.includes(extension) || /^[A-Z][A-Z_-]*\.md$/.test(name))) {
    return fileNames.has(name) || ignoredFileNames.includes(name) ? undefined : 'is no file of the repository';
  }
  if (!bare && name.endsWith('.test.ts')) {
    return tree.files.some((file) => file.endsWith(`/${name}`)) ? undefined : 'is no file of the repository';
  }
  return undefined;
}

/** `file:line: name problem` for every bad name in the text. */
function scan(path: string, text: string): string[] {
  return text.split('\n').flatMap((line, index) => problemsIn(line).map(({ name, problem }) => `${path}:${index + 1}: ${name} ${problem}`));
}

function sourceFiles(): string[] {
  return tree.files.filter((file) => SOURCE_FOLDERS.includes(file.split('/')[0]) && SOURCE_EXTENSIONS.includes(extensionOf(file)));
}

// ---------------------------------------------------------------------------------------------

test('the scanner finds names where they are, and judges them', () => {
  // Comments only: a name in a string or a regular expression is code, checked by running it.
  const source = [
    "const a = 'src/nowhere.ts'; // see src/missing.ts",
    '/* assembly/gone.ts */ const b = /test\\/x\\.test\\.ts/;',
    "const c = `DESIGN.md`; const d = 1 / 2; // 1 / 2 is not a path, bench/ is",
  ].join('\n');
  assert.equal(scan('x.ts', commentsOf('x.ts', source)), [
    'x.ts:1: src/missing.ts does not exist',
    'x.ts:2: assembly/gone.ts does not exist',
  ]);
  assert.equal(scan('x.py', commentsOf('x.py', 'x = "src/no.ts"  # src/no.py\n"""see DESIGN.md"""\n')), [
    'x.py:1: src/no.py does not exist',
    `x.py:2: DESIGN.md ${FORBIDDEN_NAMES['DESIGN.md']}`,
  ]);
  // Existing files and folders, build outputs, globs, partial paths, placeholders, URLs and
  // other projects' files pass; moved test files and unknown bare names do not.
  const fine = [
    '.d.mts', 'src/wasm/abi.ts', 'test/fixtures/kernel/', 'dist/index.mjs', 'src/wasm/generated.ts', 'assembly/layout/*',
    'layout/ipv4.ts', 'interop/tshark.test.ts', 'abi.ts', 'README.md', 'src/…', 'bench/results/FILE', 'bench/results/*.json', 'bench/suites/NAME.ts',
    'https://github.com/WireGuard/wireguard-go/blob/master/device/send.go', 'device/send.go', 'vxlan.go',
  ];
  for (const name of fine) assert.equal(problemsIn(`see ${name}.`), [], name);
  // A name said to be in a file must be there.
  assert.equal(problemsIn('see decapFrame in assembly/decap.ts, `BACKEND_NAMES` in abi.ts, the checks in decap.ts'), []);
  assert.equal(problemsIn('see encapRun in batch.ts').map(({ name }) => name), ['encapRun in batch.ts']);
  assert.equal(problemsIn('see `nothingHere()` in src/api.ts').map(({ name }) => name), ['nothingHere in src/api.ts']);
  const bad = ['wireshark.test.ts', 'interop/linux-vxlan.test.ts', 'test/status.test.ts', 'assembly/nothing*.ts', 'layout/ipv5.ts', 'NOTES.md'];
  for (const name of bad) assert.is(problemsIn(`(see ${name})`).length, 1, name);
});

test('README.md, ARCHITECTURE.md and BENCHMARKS.md name only files that exist', () => {
  const problems = DOCUMENTS.flatMap((document) =>
    exists(document) ? scan(document, readFileSync(`${root}${document}`, 'utf8')) : [`${document}: missing`]);
  assert.equal(problems, [], `\n${problems.join('\n')}\n`);
});

test('comments in src/, assembly/, test/, bench/ and scripts/ name only files that exist', () => {
  const files = sourceFiles();
  assert.ok(files.length > 50, `found only ${files.length} source files`);
  const comments = files.map((file) => ({ file, text: commentsOf(file, readFileSync(`${root}${file}`, 'utf8')) }));
  // The comments do name files: a scanner that saw none would pass for the wrong reason.
  const named = comments.reduce((count, { text }) => count + (text.match(/\b(?:src|assembly|test)\/[\w/.-]+\.ts\b/g) ?? []).length, 0);
  assert.ok(named > 30, `the comments name only ${named} files under src/, assembly/ and test/`);
  const problems = comments.flatMap(({ file, text }) => scan(file, text));
  assert.equal(problems, [], `\n${problems.join('\n')}\n`);
});

test.run();
