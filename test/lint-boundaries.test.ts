import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/** The sandbox/engine import boundary is enforced by the linter; prove the rule bites. */
describe('import boundaries', () => {
  const eslint = new ESLint({ cwd: process.cwd() });
  const restricted = async (code: string, filePath: string) => {
    const [result] = await eslint.lintText(code, { filePath });
    return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  };

  it('refuses engine code in the sandbox', async () => {
    const messages = await restricted(
      "import { systemClock } from '../../src/domain/clock.js';\nexport const c = systemClock;\n",
      'sandbox/servicenow/probe.ts',
    );
    expect(messages).toEqual([expect.stringContaining('never import engine code')]);
  });

  it('refuses the sandbox in engine code, but allows it in tests', async () => {
    const code =
      "import { generateSandboxTls } from '../../sandbox/common/tls.js';\nexport const g = generateSandboxTls;\n";
    expect(await restricted(code, 'src/cli/probe.ts')).toEqual([
      expect.stringContaining('must not depend on the sandbox'),
    ]);
    expect(await restricted(code, 'src/cli/probe.test.ts')).toEqual([]);
  });

  it('keeps the layers of src/ pointing one way', async () => {
    const importing = (spec: string) => `import { x } from '${spec}';\nexport const y = x;\n`;
    expect(await restricted(importing('../../api/app.js'), 'src/sync/ticket-sync/probe.ts')).toEqual([
      expect.stringContaining('src/sync/ sits below'),
    ]);
    expect(await restricted(importing('../store/store.js'), 'src/runtime/probe.ts')).toEqual([
      expect.stringContaining('src/runtime/ sits below'),
    ]);
    expect(await restricted(importing('../../host/serve.js'), 'src/api/routes/probe.ts')).toEqual([
      expect.stringContaining('src/api/ sits below'),
    ]);
    expect(await restricted(importing('../../sync/kernel/dispatch.js'), 'src/api/routes/probe.ts')).toEqual(
      [],
    );
  });

  it('keeps src/domain/ free of I/O', async () => {
    const code = "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n";
    expect(await restricted(code, 'src/domain/probe.ts')).toEqual([expect.stringContaining('no I/O')]);
    expect(await restricted(code, 'src/store/probe.ts')).toEqual([]);
  });
});
