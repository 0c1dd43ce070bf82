#!/usr/bin/env node
// run.mjs - runs weir's sidecar end to end: the upstream simulator, `weir serve` with
// generated configurations, the *.test.mjs files with the official SDKs pointed at the
// sidecar, a graceful SIGTERM, and checks of the audit trail and of weir's logs.
//
//   node tests/e2e/run.mjs --weir PATH_TO_weir [options]
//
// Options:
//   --weir PATH              the weir binary (required; or $WEIR)
//   --split-policies         one weir process per policy, the policy at the top level
//                            (default: one weir process, each upstream naming its policy
//                            with the per-upstream `policy:` key)
//   --only REGEX             run only the test files whose name matches
//   --keep                   keep the temporary directory (it is kept anyway on failure)
//   --log-level LEVEL        weir's log_level (default info)
//
// Exit status: 0 when every test and check passed, 1 otherwise, 2 on usage errors.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { SIM_DEFAULTS } from './sim.mjs';
import * as H from './harness.mjs';

const PRINCIPAL_APP = 'arn:aws:iam::111122223333:role/llm-app';
const PRINCIPAL_INTERN = 'arn:aws:iam::111122223333:role/llm-intern-bob';
const POLICY = {
    default: path.join(H.policiesDir, 'default.yaml'),
    'role-scoped': path.join(H.policiesDir, 'role-scoped.yaml'),
    'eu-residency': path.join(H.policiesDir, 'eu-residency.yaml'),
};
/** Values that must never appear in the audit trail or in weir's logs. */
const NEVER_LOGGED = {
    'raw e-mail address': 'jane.doe@example.com',
    'card number': /4111[\s-]*1111[\s-]*1111[\s-]*1111/,
    'AWS secret access key': SIM_DEFAULTS.secretAccessKey,
    'Azure api-key': SIM_DEFAULTS.azureKey,
};

/**
 * The upstreams (sidecar listeners) the tests use. `sim` is the simulator port behind it (a
 * Bedrock region, or "azure"), or "closed" for a port nothing listens on.
 */
function upstreamPlan() {
    const azure = { kind: 'azure', region: 'swedencentral', deployment_type: 'datazone', api_key_env: 'AZURE_OPENAI_API_KEY', deployments: { 'gpt-4o': 'gpt-4o' } };
    return [
        // default policy
        { name: 'bedrock', kind: 'bedrock', region: 'eu-central-1', sim: 'eu-central-1', principal: PRINCIPAL_APP, policy: 'default' },
        { name: 'azure', ...azure, sim: 'azure', policy: 'default' },
        { name: 'bedrock-down', kind: 'bedrock', region: 'eu-central-1', sim: 'closed', principal: PRINCIPAL_APP, policy: 'default' },
        { name: 'azure-down', ...azure, sim: 'closed', policy: 'default' },
        // role-scoped policy
        { name: 'bedrock-app', kind: 'bedrock', region: 'eu-central-1', sim: 'eu-central-1', principal: PRINCIPAL_APP, policy: 'role-scoped' },
        { name: 'bedrock-intern', kind: 'bedrock', region: 'eu-central-1', sim: 'eu-central-1', principal: PRINCIPAL_INTERN, policy: 'role-scoped' },
        // eu-residency policy
        { name: 'bedrock-eu', kind: 'bedrock', region: 'eu-central-1', sim: 'eu-central-1', principal: PRINCIPAL_APP, policy: 'eu-residency' },
        { name: 'bedrock-us', kind: 'bedrock', region: 'us-east-1', sim: 'us-east-1', principal: PRINCIPAL_APP, policy: 'eu-residency' },
        { name: 'azure-global', ...azure, deployment_type: 'global', sim: 'azure', policy: 'eu-residency' },
    ];
}

/**
 * Groups the upstreams into weir processes. Split (default): one process per policy, the
 * policy at the top level. Per-upstream: one process, each upstream with its `policy:`.
 */
function instancesFor(plan, perUpstreamPolicy) {
    if (perUpstreamPolicy) {
        for (const u of plan) u.policyFile = POLICY[u.policy];
        return [{ id: 'all', policy: POLICY.default, upstreams: plan }];
    }
    const by = new Map();
    for (const u of plan) {
        if (!by.has(u.policy)) by.set(u.policy, { id: u.policy, policy: POLICY[u.policy], upstreams: [] });
        by.get(u.policy).upstreams.push(u);
    }
    return [...by.values()];
}

function usage(msg) {
    if (msg) process.stderr.write(`run.mjs: ${msg}\n`);
    process.stderr.write('usage: node tests/e2e/run.mjs --weir PATH [--split-policies] [--only REGEX] [--keep] [--log-level L]\n');
    process.exit(2);
}

function parseArgs(argv) {
    const o = { weir: process.env.WEIR || null, perUpstreamPolicy: true, only: null, keep: false, logLevel: 'info' };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
        if (a === '--weir') o.weir = v();
        else if (a === '--per-upstream-policy') o.perUpstreamPolicy = true;
        else if (a === '--split-policies') o.perUpstreamPolicy = false;
        else if (a === '--only') o.only = new RegExp(v());
        else if (a === '--keep') o.keep = true;
        else if (a === '--log-level') o.logLevel = v();
        else if (a === '-h' || a === '--help') usage();
        else usage(`unknown argument ${a}`);
    }
    if (!o.weir) usage('--weir PATH is required');
    o.weir = path.resolve(o.weir);
    if (!fs.existsSync(o.weir)) usage(`no such file: ${o.weir}`);
    return o;
}

// ------------------------------------------------------------------------------- checks

class Checks {
    constructor() {
        this.list = [];
    }
    add(name, problem) {
        const ok = !problem;
        this.list.push({ name, ok, problem });
        const detail = ok ? '' : `\n        ${String(problem).replace(/\n/g, '\n        ')}`;
        process.stdout.write(`${ok ? 'ok  ' : 'FAIL'}  ${name}${detail}\n`);
        return ok;
    }
    get failed() {
        return this.list.filter((c) => !c.ok).length;
    }
}

/** Every file of the trail as text: the journal, decompressed log and digest files. */
function trailText(dir) {
    const parts = [];
    const walk = (d) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else if (e.isFile()) {
                const raw = fs.readFileSync(p);
                let text;
                try {
                    text = p.endsWith('.gz') ? zlib.gunzipSync(raw).toString('utf8') : raw.toString('utf8');
                } catch {
                    text = raw.toString('latin1');
                }
                parts.push({ file: p, text });
            }
        }
    };
    if (fs.existsSync(dir)) walk(dir);
    return parts;
}

function findNever(text) {
    const hits = [];
    for (const [what, pat] of Object.entries(NEVER_LOGGED))
        if (typeof pat === 'string' ? text.includes(pat) : pat.test(text)) hits.push(what);
    return hits;
}

const isGateEvent = (r) => r.eventType === 'AwsServiceEvent' || r.userIdentity?.type === 'AWSService';

function countBy(list, key) {
    const o = {};
    for (const x of list) {
        const k = key(x);
        o[k] = (o[k] ?? 0) + 1;
    }
    return o;
}

function auditChecks(checks, weir, keys, inst, allCalls) {
    const tag = `[${inst.id}]`;
    const verify = H.runWeir(weir, ['audit', 'verify', inst.auditDir, '--public-key', keys.signingKey, '-v']);
    checks.add(
        `${tag} weir audit verify DIR passes`,
        verify.code === 0
            ? null
            : `exit ${verify.code}${verify.error ? ` (${verify.error.message})` : ''}\n${(verify.stdout + verify.stderr).trim().split('\n').slice(-15).join('\n')}`,
    );

    const qr = H.runWeir(weir, ['audit', 'query', inst.auditDir, '--format', 'jsonl']);
    let records = [];
    let problem = null;
    if (qr.code !== 0) problem = `exit ${qr.code}: ${qr.stderr.trim().slice(0, 500)}`;
    else {
        try {
            records = qr.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
        } catch (e) {
            problem = `output is not JSON lines: ${e.message}`;
        }
    }
    if (!checks.add(`${tag} weir audit query DIR --format jsonl`, problem)) return;

    const calls = allCalls.filter((c) => c.instance === inst.id);
    const recs = records.filter((r) => !isGateEvent(r));
    checks.add(
        `${tag} one audit record per call (${calls.length} calls)`,
        recs.length === calls.length
            ? null
            : `${recs.length} call records for ${calls.length} calls; records by direction: ${JSON.stringify(countBy(recs, (r) => r.requestParameters?.direction ?? '(none)'))}, by event: ${JSON.stringify(countBy(recs, (r) => r.eventName))}; calls by case: ${JSON.stringify(countBy(calls, (c) => c.label.split('/')[0]))}`,
    );

    const action = (r) => r.responseElements?.action ?? r.additionalEventData?.action ?? '(none)';
    const want = countBy(calls.filter((c) => c.action !== '*'), (c) => c.action);
    const got = countBy(recs, action);
    const wild = calls.filter((c) => c.action === '*').length;
    const diffs = [];
    for (const a of new Set([...Object.keys(want), ...Object.keys(got)])) {
        const w = want[a] ?? 0;
        const g = got[a] ?? 0;
        if (g < w || g > w + wild) diffs.push(`${a}: expected ${w}${wild ? ` (+ up to ${wild})` : ''}, recorded ${g}`);
    }
    checks.add(`${tag} recorded decisions match the calls ${JSON.stringify(want)}`, diffs.length ? diffs.join('; ') : null);

    // Calls whose request id the sidecar recorded: each record's decision must be the call's.
    const byId = new Map(recs.map((r) => [r.requestID, r]));
    const mism = [];
    let matched = 0;
    for (const c of calls) {
        if (!c.requestId || !byId.has(c.requestId)) continue;
        matched++;
        const a = action(byId.get(c.requestId));
        if (c.action !== '*' && a !== c.action) mism.push(`${c.label} (request ${c.requestId}): expected ${c.action}, recorded ${a}`);
    }
    checks.add(
        `${tag} records found by request id agree with their call (${matched} of ${calls.length} correlated)`,
        mism.length ? mism.join('\n') : null,
    );

    // --principal finds exactly the calls made through the listeners with that principal.
    for (const principal of new Set(inst.upstreams.map((u) => u.principal).filter(Boolean))) {
        const names = new Set(inst.upstreams.filter((u) => u.principal === principal).map((u) => u.name));
        const expect = calls.filter((c) => names.has(c.upstream)).length;
        const pq = H.runWeir(weir, ['audit', 'query', inst.auditDir, '--principal', principal, '--format', 'jsonl']);
        const n = pq.code === 0 ? pq.stdout.split('\n').filter((l) => l.trim()).length : -1;
        checks.add(
            `${tag} weir audit query --principal ${principal} finds its ${expect} calls`,
            pq.code !== 0 ? `exit ${pq.code}: ${pq.stderr.trim().slice(0, 300)}` : n === expect ? null : `found ${n}`,
        );
    }

    const leaks = [];
    for (const part of trailText(inst.auditDir)) {
        const hits = findNever(part.text);
        if (hits.length) leaks.push(`${path.relative(inst.auditDir, part.file)}: ${hits.join(', ')}`);
    }
    checks.add(`${tag} the audit trail holds no raw e-mail, card number or credential`, leaks.length ? leaks.join('\n') : null);
}

// --------------------------------------------------------------------------------- main

async function main() {
    const opt = parseArgs(process.argv.slice(2));
    const checks = new Checks();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-e2e-'));
    process.stdout.write(`weir e2e: ${opt.weir}\nwork dir: ${tmp}\n`);
    const keys = H.makeAuditKeys(tmp);

    let sim = null;
    const instances = [];
    let allReady = false;
    try {
        sim = await H.startSim(path.join(tmp, 'sim.log'));
        const plan = upstreamPlan();
        const groups = instancesFor(plan, opt.perUpstreamPolicy);
        const ports = await H.freePorts(plan.length + groups.length + 1);
        const closedPort = ports.pop();
        for (const u of plan) {
            u.port = ports.pop();
            u.simPort = u.sim === 'closed' ? null : u.sim === 'azure' ? sim.ports.azure : sim.ports.bedrockPorts[u.sim];
            u.endpoint = `http://127.0.0.1:${u.simPort ?? closedPort}`;
        }
        for (const g of groups) {
            const inst = {
                ...g,
                adminPort: ports.pop(),
                auditDir: path.join(tmp, `audit-${g.id}`),
                configFile: path.join(tmp, `weir-${g.id}.yaml`),
                stdoutFile: path.join(tmp, `weir-${g.id}.stdout`),
                stderrFile: path.join(tmp, `weir-${g.id}.stderr`),
            };
            for (const u of inst.upstreams) u.instance = inst.id;
            fs.writeFileSync(inst.configFile, H.configYaml(inst, keys, opt.logLevel));
            instances.push(inst);
        }

        for (const inst of instances) H.startWeir(opt.weir, inst);
        allReady = true;
        for (const inst of instances) {
            const problem = await H.waitReady(inst, 20_000);
            if (!checks.add(`[${inst.id}] weir serve is ready (GET /readyz on 127.0.0.1:${inst.adminPort} == 200)`, problem)) {
                allReady = false;
                process.stdout.write(`--- ${inst.configFile}\n${fs.readFileSync(inst.configFile, 'utf8')}--- weir stderr (last lines)\n${H.tail(inst.stderrFile)}\n---\n`);
            }
        }

        const callsFile = path.join(tmp, 'calls.jsonl');
        fs.writeFileSync(callsFile, '');
        if (allReady) {
            const topo = {
                sim: sim.ports,
                closedPort,
                upstreams: Object.fromEntries(
                    plan.map((u) => [
                        u.name,
                        { port: u.port, kind: u.kind, region: u.region, policy: u.policy, instance: u.instance, principal: u.principal ?? null, simPort: u.simPort, deploymentType: u.deployment_type ?? null },
                    ]),
                ),
                instances: Object.fromEntries(instances.map((i) => [i.id, { admin: i.adminPort, auditDir: i.auditDir, stderr: i.stderrFile }])),
                calls: callsFile,
            };
            const files = fs
                .readdirSync(H.here)
                .filter((f) => f.endsWith('.test.mjs') && (!opt.only || opt.only.test(f)))
                .sort()
                .map((f) => path.join(H.here, f));
            process.stdout.write(`running ${files.length} test files\n`);
            const r = spawnSync(
                process.execPath,
                ['--test', '--test-concurrency=1', '--test-reporter=spec', '--test-timeout=120000', ...files],
                { stdio: 'inherit', env: { ...process.env, E2E_TOPOLOGY: JSON.stringify(topo) }, cwd: H.here },
            );
            checks.add(`node --test (${files.length} files in tests/e2e)`, r.status === 0 ? null : `exit ${r.status ?? r.signal}`);
            if (r.status !== 0)
                for (const inst of instances) process.stdout.write(`--- weir [${inst.id}] stderr (last lines)\n${H.tail(inst.stderrFile, 60)}\n`);
        }

        for (const inst of instances) checks.add(`[${inst.id}] SIGTERM: weir exits 0 within 30 s`, await H.stopWeir(inst, 30_000));

        if (allReady) {
            const calls = fs.readFileSync(callsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
            for (const inst of instances) auditChecks(checks, opt.weir, keys, inst, calls);
            for (const inst of instances) {
                const text = [inst.stdoutFile, inst.stderrFile].map((f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '')).join('\n');
                const hits = findNever(text);
                checks.add(`[${inst.id}] weir's stdout and stderr hold no raw e-mail, card number or credential`, hits.length ? hits.join(', ') : null);
            }
        }
    } catch (e) {
        checks.add('runner', e.stack || String(e));
    } finally {
        for (const inst of instances) if (inst.child && inst.child.exitCode === null && inst.child.signalCode === null) inst.child.kill('SIGKILL');
        if (sim) sim.child.kill('SIGTERM');
    }

    const failed = checks.failed;
    process.stdout.write(`\ne2e: ${checks.list.length - failed} passed, ${failed} failed\n`);
    if (failed || opt.keep) process.stdout.write(`kept ${tmp} (configs, weir logs, audit trails, simulator log, calls.jsonl)\n`);
    else fs.rmSync(tmp, { recursive: true, force: true });
    process.exit(failed ? 1 : 0);
}

main();
