'use strict';
// The service's entry point: service/src compiled with source maps (compile.cjs says why), then its main.js.
// Started after the APM preload (`node -r ./service/src/telemetry/apm-preload.cjs service/src/start.cjs`).
const path = require('node:path');
const { compileService } = require('./compile.cjs');

require(path.join(compileService(), 'main.js'));
