import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

/** README.md and every Markdown file under docs/, recursively. */
function documents(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? walk(join(dir, entry.name))
        : entry.name.endsWith('.md')
          ? [join(dir, entry.name)]
          : [],
    );
  return ['README.md', ...walk('docs')];
}

/** Relative link targets of a Markdown text, outside code blocks and inline code. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((link) => !/^[a-z][a-z0-9+.-]*:/i.test(link) && !link.startsWith('#'))
    .map((link) => link.split('#')[0]!)
    .filter((path) => path !== '');
}

describe('documentation links', () => {
  it('finds relative links and ignores URLs, anchors and code', () => {
    expect(
      relativeLinks('[a](docs/a.md#x) [b](https://x.test/b.md) [c](#top) `[d](d.md)`\n```\n[e](e.md)\n```'),
    ).toEqual(['docs/a.md']);
  });

  it('has no relative link in README.md or docs/ that points to a missing file', () => {
    const broken = documents().flatMap((file) =>
      relativeLinks(readFileSync(file, 'utf8'))
        .filter((link) => !existsSync(normalize(join(dirname(file), decodeURIComponent(link)))))
        .map((link) => `${file}: ${link}`),
    );
    expect(broken).toEqual([]);
  });
});
