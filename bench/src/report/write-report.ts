// report.html next to a summary.json: read the summary as written (the page renders the file, nothing else),
// render, and write atomically so a reader never opens half a page.
import { rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadSummary } from './load-summary';
import { renderReport } from './render-report';

export async function writeReport(summaryFile: string, outFile: string = join(dirname(summaryFile), 'report.html')): Promise<string> {
  const loaded = await loadSummary(summaryFile);
  const html = renderReport(loaded, { generator: 'npm run bench -- report' });
  const tmp = `${outFile}.${process.pid}.tmp`;
  await writeFile(tmp, html);
  await rename(tmp, outFile);
  return outFile;
}
