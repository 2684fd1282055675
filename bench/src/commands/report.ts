// `npm run bench -- report SUMMARY.json [--out FILE]` (bench/src/report/report-commands.ts).
import type { Command } from '../command';
import { REPORT_HELP, reportCommand } from '../report/report-commands';

export const command: Command = {
  name: 'report',
  summary: 'render a run\'s summary.json as one self-contained HTML page',
  help: () => REPORT_HELP,
  run: (argv, io) => reportCommand(argv, io),
};
