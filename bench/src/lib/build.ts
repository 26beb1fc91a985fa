import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { BUILD, REPO } from './procs.js';

/**
 * Transpiles bench/src/**\/*.ts to bench/.build/src/**\/*.js (type-stripping only, with the
 * repository's TypeScript). The processes whose memory and CPU are measured (consoles,
 * agent hosts, load generators) then run on plain node: tsx's loader alone adds ~55 MB of
 * resident memory, which would distort "console RSS < 300 MB". `npx tsc -p bench`
 * typechecks the same sources.
 */
export function buildBench(): void {
  const source = join(REPO, 'bench', 'src');
  rmSync(BUILD, { recursive: true, force: true });
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : []));
  for (const file of walk(source)) {
    const output = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true, sourceMap: false },
    });
    const target = join(BUILD, 'src', relative(source, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, output.outputText);
  }
  // The root package.json says "type": "module" already; this keeps .build self-describing.
  writeFileSync(join(BUILD, 'package.json'), '{ "type": "module", "private": true }\n');
}
