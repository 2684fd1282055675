// The service's start command is written out in package.json (npm run service, and so the container) and built
// from service/src/launch.ts everywhere else (the bench, the tests, the perf scripts): both must say the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serviceCommand } from '../../bench/src/target/service-process';
import { APM_PRELOAD, SERVICE_V8_FLAGS, serviceNodeArgs } from '../src/launch';

test('npm run service, the bench and the tests start the service with the same node arguments', () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.service, `node ${serviceNodeArgs().join(' ')}`);
  assert.deepEqual(serviceCommand(), serviceNodeArgs());
  const args = serviceNodeArgs();
  assert.ok(args.indexOf('-r') > args.indexOf(SERVICE_V8_FLAGS[0]!), 'V8 flags come first');
  assert.equal(args[args.indexOf('-r') + 1], APM_PRELOAD, 'the APM agent is preloaded before anything else');
  assert.deepEqual(serviceNodeArgs({ preload: false }).includes('-r'), false);
});
