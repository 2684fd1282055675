// bench k8s render: every object validates against the Kubernetes schemas (kubernetes-models), no key is unknown
// to the API (a @kubernetes/client-node loadYaml/dumpYaml round trip keeps every key it knows and drops the
// rest), the workers are an Indexed Job with the fields a distributed run relies on, and the ConfigMap's profile
// validates back to the very profile that was rendered. No cluster runs here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { activeDeadlineSeconds, render, RenderError, toYaml, COORDINATOR_PORT } from '../k8s/render';
import { loadProfile, shippedProfileNames } from '../src/profiles/index';
import { validateProfile } from '../src/profiles/validate';

function validateModel(o: Record<string, unknown>): void {
  switch (o.kind) {
    case 'ConfigMap': new ConfigMap(o as never).validate(); break;
    case 'Service': new Service(o as never).validate(); break;
    case 'Job': new Job(o as never).validate(); break;
    default: throw new Error(`unexpected kind ${String(o.kind)}`);
  }
}

/** Every key path in `o` ("spec.template.spec.containers[0].env[1].valueFrom"). */
function keyPaths(o: unknown, prefix = ''): string[] {
  if (Array.isArray(o)) return o.flatMap((v, i) => keyPaths(v, `${prefix}[${i}]`));
  if (o !== null && typeof o === 'object') {
    return Object.entries(o as Record<string, unknown>).flatMap(([k, v]) => [`${prefix}.${k}`, ...keyPaths(v, `${prefix}.${k}`)]);
  }
  return [];
}

/** Keys the API's own types do not know: they vanish in a deserialize/serialize round trip. */
function unknownKeys(yamlDoc: string): string[] {
  const original = parseAllDocuments(yamlDoc)[0]!.toJS() as Record<string, unknown>;
  const back = parseAllDocuments(k8s.dumpYaml(k8s.loadYaml(yamlDoc)))[0]!.toJS() as Record<string, unknown>;
  const kept = new Set(keyPaths(back));
  return keyPaths(original).filter((p) => !kept.has(p));
}

const TARGET = 'http://pageview.stats.svc:8080';

test('every rendered object of every shipped profile validates and has no key unknown to the API', () => {
  for (const name of shippedProfileNames()) {
    const { profile } = loadProfile(name);
    for (const workers of [1, 3, 16]) {
      const objects = render({ profile, workers, target: TARGET, namespace: 'stats' });
      assert.deepEqual(objects.map((o) => o.kind), ['ConfigMap', 'Service', 'Job', 'Job']);
      for (const o of objects) {
        assert.doesNotThrow(() => validateModel(o), `${name} x${workers} ${String(o.kind)}`);
        const doc = toYaml([o]);
        assert.deepEqual(unknownKeys(doc), [], `${name} x${workers} ${String(o.kind)} has keys the API drops`);
      }
      // the printed stream parses back to exactly these objects
      const docs = parseAllDocuments(toYaml(objects)).map((d) => d.toJS());
      assert.deepEqual(docs, JSON.parse(JSON.stringify(objects)));
    }
  }
});

test('the checks can fail: a misspelled field is caught by the round trip, a wrong type by validate()', () => {
  const { profile } = loadProfile('stress');
  const job = render({ profile, workers: 2, target: TARGET })[3] as { spec: Record<string, unknown> };
  const misspelled = { ...job, spec: { ...job.spec, completionsMode: 'Indexed' } };
  assert.deepEqual(unknownKeys(toYaml([misspelled])), ['.spec.completionsMode']);
  const wrongType = { ...job, spec: { ...job.spec, parallelism: 'two' } };
  assert.throws(() => validateModel(wrongType as never));
});

test('the workers are an Indexed Job with every field a distributed run relies on', () => {
  const { profile } = loadProfile('load');
  const [, service, coordinator, workers] = render({
    profile, workers: 5, target: TARGET, namespace: 'stats', image: 'registry.example/bench:1',
    worker: { cpu: '2', memory: '1Gi' }, ttlSecondsAfterFinished: 600,
  }) as any[];
  const spec = workers.spec;
  assert.equal(spec.completionMode, 'Indexed');
  assert.equal(spec.parallelism, 5);
  assert.equal(spec.completions, 5);
  assert.equal(spec.backoffLimit, 0);
  assert.equal(spec.ttlSecondsAfterFinished, 600);
  assert.equal(spec.activeDeadlineSeconds, activeDeadlineSeconds(profile, 120_000));
  // 120 s of stages + (10 s timeout + 7 s) per stage + 120 s connect + 120 s margin
  assert.equal(spec.activeDeadlineSeconds, 120 + 3 * 17 + 120 + 120);
  const pod = spec.template.spec;
  assert.equal(pod.restartPolicy, 'Never');
  assert.deepEqual(pod.topologySpreadConstraints, [{
    maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule',
    labelSelector: { matchLabels: spec.template.metadata.labels },
  }]);
  const c = pod.containers[0];
  assert.equal(c.image, 'registry.example/bench:1');
  assert.deepEqual(c.resources.requests, c.resources.limits);
  assert.deepEqual(c.resources.limits, { cpu: '2', memory: '1Gi' });
  const index = c.env.find((e: any) => e.name === 'JOB_COMPLETION_INDEX');
  assert.equal(index.valueFrom.fieldRef.fieldPath, "metadata.annotations['batch.kubernetes.io/job-completion-index']");
  assert.deepEqual(c.args, ['--worker', `ws://bench-load-coordinator.stats.svc:${COORDINATOR_PORT}`, '--connect-timeout', '120s']);

  // the workers dial the Service, which selects exactly the coordinator's pod
  assert.deepEqual(service.spec.selector, coordinator.spec.template.metadata.labels);
  assert.equal(service.spec.ports[0].port, COORDINATOR_PORT);
  assert.equal(coordinator.spec.backoffLimit, 0);
  assert.equal(coordinator.spec.template.spec.restartPolicy, 'Never');
  const cc = coordinator.spec.template.spec.containers[0];
  assert.deepEqual(cc.resources.requests, cc.resources.limits);
  const arg = (flag: string) => cc.args[cc.args.indexOf(flag) + 1];
  assert.equal(arg('--workers'), '5');
  assert.equal(arg('--target'), TARGET);
  assert.equal(arg('--profile'), '/etc/bench/profile.json');
});

test('the ConfigMap carries the resolved profile (overrides applied), which validates back to the same profile', () => {
  for (const name of shippedProfileNames()) {
    const { profile } = loadProfile(name, { duration: '3s', seed: 7 });
    const [cm] = render({ profile, workers: 2, target: TARGET }) as any[];
    const back = validateProfile(JSON.parse(cm.data['profile.json']), 'ignored');
    assert.ok('profile' in back, JSON.stringify(back));
    assert.deepEqual(back.profile, profile);
  }
});

test('bad options are one error listing every problem, and nothing is rendered', () => {
  const { profile } = loadProfile('smoke');
  assert.throws(
    () => render({ profile, workers: 0, target: 'ftp://x', name: 'Bad_Name', worker: { cpu: 'lots', memory: '1Gi' } }),
    (e: unknown) => {
      assert.ok(e instanceof RenderError);
      const lines = e.message.split('\n');
      assert.equal(lines.length, 4, e.message);
      assert.match(e.message, /--workers/);
      assert.match(e.message, /--name/);
      assert.match(e.message, /--worker-cpu/);
      assert.match(e.message, /--target/);
      return true;
    },
  );
});
