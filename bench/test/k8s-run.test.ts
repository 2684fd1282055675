// bench k8s run through the real @kubernetes/client-node 1.x against a stand-in for the API server (no cluster
// runs here): the objects are created in order in the namespace, the coordinator's pod is waited for, its log is
// followed, summary.json comes back from the frame in it, the exit code is the coordinator container's, an object
// that already exists is a clear error (and the Jobs created so far are deleted), and so is a log without a summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { render } from '../k8s/render';
import { k8sRun, K8sRunError } from '../k8s/run';
import { frameSummary } from '../src/distributed/summary-log';
import { loadProfile } from '../src/profiles/index';

interface Seen { method: string; path: string; body: Record<string, unknown> | null }

async function apiServer(opts: { exitCode: number; log: string; conflictOn?: string }): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  let listed = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const u = new URL(req.url!, 'http://x');
      const body = raw ? JSON.parse(raw) as Record<string, unknown> : null;
      seen.push({ method: req.method!, path: `${u.pathname}${u.search}`, body });
      const json = (status: number, o: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(o));
      };
      const m = /^\/(?:api\/v1|apis\/batch\/v1)\/namespaces\/([^/]+)\/(configmaps|services|jobs|pods)(?:\/([^/]+))?(\/log)?$/.exec(u.pathname);
      if (!m) return json(404, { kind: 'Status', code: 404 });
      const [, ns, kind, name, log] = m;
      if (req.method === 'POST') {
        const meta = body!.metadata as { name: string };
        if (opts.conflictOn !== undefined && meta.name.endsWith(opts.conflictOn)) return json(409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'AlreadyExists', code: 409, message: `${kind} "${meta.name}" already exists` });
        return json(201, { ...body, metadata: { ...meta, namespace: ns, uid: `uid-${seen.length}` } });
      }
      if (req.method === 'DELETE') return json(200, { kind: 'Status', status: 'Success' });
      if (kind === 'pods' && !name) {
        // the first list finds the pod still pulling its image, the next one running
        listed++;
        const phase = listed === 1 ? 'Pending' : 'Running';
        return json(200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'bench-x-coordinator-abcde', namespace: ns }, status: { phase } }] });
      }
      if (kind === 'pods' && log) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        // in two pieces, the second cutting a line, as a followed log arrives
        const half = Math.floor(opts.log.length / 2);
        res.write(opts.log.slice(0, half));
        setTimeout(() => res.end(opts.log.slice(half)), 50);
        return;
      }
      if (kind === 'pods' && name) {
        return json(200, {
          kind: 'Pod', apiVersion: 'v1', metadata: { name, namespace: ns },
          status: { phase: opts.exitCode === 0 ? 'Succeeded' : 'Failed', containerStatuses: [{ name: 'coordinator', ready: false, restartCount: 0, image: 'i', imageID: 'i', state: { terminated: { exitCode: opts.exitCode, reason: 'Completed' } } }] },
        });
      }
      return json(404, { kind: 'Status', code: 404 });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

function kubeConfig(url: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'stand-in', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'not-a-secret' }],
    contexts: [{ name: 'c', cluster: 'stand-in', user: 'u', namespace: 'stats' }],
    currentContext: 'c',
  });
  return kc;
}

const objects = () => render({ profile: loadProfile('smoke').profile, workers: 3, target: 'http://pageview.stats.svc:8080', name: 'bench-x' });

test('k8s run creates the objects, follows the coordinator, copies summary.json back and exits with its code', async (t) => {
  const summary = JSON.stringify({ run_id: 'r-1', passed: false, workers: [{ index: 0 }, { index: 1 }, { index: 2 }] }, null, 2);
  const api = await apiServer({ exitCode: 99, log: `{"msg":"bench run starting"}\nStage 1/2 ...\n${frameSummary(summary)}{"msg":"bench run finished"}\n` });
  t.after(() => api.close());
  const lines: string[] = [];
  const r = await k8sRun({ objects: objects(), kubeConfig: kubeConfig(api.url), onLog: (l) => lines.push(l), log: () => {}, podStartTimeoutMs: 30_000 });
  assert.equal(r.exitCode, 99);
  assert.equal(r.summary, summary);
  assert.equal(r.pod, 'bench-x-coordinator-abcde');
  const posts = api.seen.filter((s) => s.method === 'POST');
  assert.deepEqual(posts.map((p) => p.path), [
    '/api/v1/namespaces/stats/configmaps', '/api/v1/namespaces/stats/services',
    '/apis/batch/v1/namespaces/stats/jobs', '/apis/batch/v1/namespaces/stats/jobs',
  ]);
  // what reached the API is what render made (the client's serializer drops nothing it knows), in the namespace
  const workers = posts[3]!.body as { metadata: { namespace: string }; spec: { completionMode: string; parallelism: number; template: { spec: { topologySpreadConstraints: unknown[] } } } };
  assert.equal(workers.metadata.namespace, 'stats');
  assert.equal(workers.spec.completionMode, 'Indexed');
  assert.equal(workers.spec.parallelism, 3);
  assert.equal(workers.spec.template.spec.topologySpreadConstraints.length, 1);
  const list = api.seen.find((s) => s.method === 'GET' && s.path.includes('/pods?'))!;
  assert.match(decodeURIComponent(list.path), /labelSelector=app\.kubernetes\.io\/instance=bench-x,app\.kubernetes\.io\/component=coordinator/);
  assert.ok(api.seen.some((s) => /\/pods\/bench-x-coordinator-abcde\/log\?.*follow=true/.test(s.path)));
  assert.ok(lines.includes('Stage 1/2 ...'), 'the log is passed on line by line, the cut line joined');
  assert.equal(api.seen.filter((s) => s.method === 'DELETE').length, 0);
});

test('an object that already exists is a clear error, and the Jobs created before it are deleted', async (t) => {
  const api = await apiServer({ exitCode: 0, log: '', conflictOn: '-workers' });
  t.after(() => api.close());
  await assert.rejects(
    k8sRun({ objects: objects(), kubeConfig: kubeConfig(api.url), onLog: () => {}, log: () => {} }),
    (e: unknown) => e instanceof K8sRunError && e.code === 'BENCH_K8S_CREATE' && /Job stats\/bench-x-workers already exists/.test(e.message),
  );
  assert.equal(api.seen.filter((s) => s.method === 'POST').length, 4);
  const deletes = api.seen.filter((s) => s.method === 'DELETE').map((s) => s.path.replace(/\?.*$/, ''));
  assert.deepEqual(deletes, ['/apis/batch/v1/namespaces/stats/jobs/bench-x-coordinator']);
});

test('a coordinator that never printed its summary: the exit code comes back with the reason', async (t) => {
  const api = await apiServer({ exitCode: 1, log: '{"msg":"bench run failed"}\n' });
  t.after(() => api.close());
  const r = await k8sRun({ objects: objects(), kubeConfig: kubeConfig(api.url), onLog: () => {}, log: () => {}, podStartTimeoutMs: 30_000 });
  assert.equal(r.exitCode, 1);
  assert.equal(r.summary, null);
  assert.match(r.summaryError ?? '', /no summary/);
});
