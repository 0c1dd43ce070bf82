#!/usr/bin/env node
// identity.mjs - end-to-end test of the sidecar's per-listener caller identity (`identity:`
// on an upstream): JWT, presigned sts:GetCallerIdentity tokens, the sidecar's own workload
// role, with the official SDKs pointed at `weir serve`, then the audit trail.
//
//   node tests/e2e/identity.mjs --weir PATH [--keep] [--log-level LEVEL]
//
// Starts sim.mjs (Bedrock eu-central-1 and Azure) and the STS simulator (sts-sim.mjs, in
// process), makes an RSA key pair and a JWKS file, writes one weir configuration (policy
// role-scoped at the top level; listeners bedrock-jwt, azure-jwt, bedrock-sts,
// bedrock-workload, bedrock-eu-jwt with its own `policy:` eu-residency), starts weir, runs the
// cases, sends SIGTERM, and checks the audit trail (one record per call, principal and
// errorCode) and that no token text reached the trail or weir's stdout/stderr.
// Exit status: 0 when every check passed, 1 otherwise, 2 on usage errors.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import OpenAI from 'openai';
import * as H from './harness.mjs';
import * as L from './lib.mjs';
import { SIM_DEFAULTS } from './sim.mjs';
import { startStsSimulator, STS_KEYS } from './sts-sim.mjs';
import { makeStsToken } from './sts-token.mjs';

const ACCOUNT = '111122223333';
const ROLE = (name) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const PRINCIPAL_APP = ROLE('llm-app');
const PRINCIPAL_BOB = ROLE('llm-intern-bob');
const STS_APP = STS_KEYS.AKIDEXAMPLEAPP000001.arn; // arn:aws:sts::...:assumed-role/llm-app/session-1
const STS_BOB = STS_KEYS.AKIDEXAMPLEBOB000001.arn;
const WORKLOAD = STS_KEYS[SIM_DEFAULTS.accessKeyId].arn; // the sidecar's own role (llm-sidecar)
const ISSUER = 'https://idp.weir-e2e.test/';
const AUDIENCE = 'weir-e2e-sidecar';
const CLUSTER_ID = 'weir-e2e-cluster';
const REGION = 'eu-central-1';
const MODEL_EU = 'eu.anthropic.claude-3-5-sonnet-20240620-v1:0';
const POLICY_ROLE_SCOPED = path.join(H.policiesDir, 'role-scoped.yaml');
const POLICY_EU = path.join(H.policiesDir, 'eu-residency.yaml');
const DENIED = 'AccessDenied';
const UNAUTH = 'AuthenticationRequired';

// ----------------------------------------------------------------------------- arguments

function usage(msg) {
    if (msg) process.stderr.write(`identity.mjs: ${msg}\n`);
    process.stderr.write('usage: node tests/e2e/identity.mjs --weir PATH [--keep] [--log-level L]\n');
    process.exit(2);
}

function parseArgs(argv) {
    const o = { weir: process.env.WEIR || null, keep: false, logLevel: 'info' };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
        if (a === '--weir') o.weir = v();
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

// -------------------------------------------------------------------------------- checks

const results = [];
function check(name, problem) {
    const ok = !problem;
    results.push({ name, ok });
    const detail = ok ? '' : `\n        ${String(problem).replace(/\n/g, '\n        ')}`;
    process.stdout.write(`${ok ? 'ok  ' : 'FAIL'}  ${name}${detail}\n`);
    return ok;
}

/** Runs a case: fn returns null (pass) or a problem, or throws (a problem). */
async function scenario(name, fn) {
    try {
        return check(name, await fn());
    } catch (e) {
        return check(name, `threw: ${describe(e)}\n${e?.stack?.split('\n').slice(1, 4).join('\n') ?? ''}`);
    }
}

/** An SDK error in one line: name, status, message. */
function describe(e) {
    if (!e || typeof e !== 'object') return String(e);
    const status = e.$metadata?.httpStatusCode ?? e.status ?? '?';
    return `${e.name ?? e.constructor?.name} (HTTP ${status}): ${String(e.message).slice(0, 300)}`;
}

const statusOf = (e) => e?.$metadata?.httpStatusCode ?? e?.status ?? null;

// ------------------------------------------------------------------------ keys and tokens

const b64url = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

/** An RSA key pair and the JWKS file that publishes its public half. */
function makeJwks(dir) {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = 'weir-e2e-' + crypto.randomBytes(4).toString('hex');
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
    const file = path.join(dir, 'jwks.json');
    fs.writeFileSync(file, JSON.stringify({ keys: [jwk] }, null, 2) + '\n');
    return { privateKey, kid, file };
}

/** A signed RS256 JWT. `claims` overrides the defaults (iss, aud, iat, exp = now + 10 min). */
function makeJwt(key, claims, { kid = key.kid, privateKey = key.privateKey } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', kid };
    const payload = { iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 600, ...claims };
    const input = `${b64url(header)}.${b64url(payload)}`;
    const sig = crypto.sign('sha256', Buffer.from(input), privateKey);
    return `${input}.${sig.toString('base64url')}`;
}

// ------------------------------------------------------------------------------- config

const q = (s) => JSON.stringify(String(s));

/** weir's configuration: listeners with `identity:` blocks, written by hand (harness.configYaml has no identity). */
function configYaml({ adminPort, auditDir, keys, logLevel, ups, jwksFile, stsPort }) {
    const Y = [];
    Y.push('# weir e2e: identity sources (generated by tests/e2e/identity.mjs)');
    Y.push(`policy: ${q(POLICY_ROLE_SCOPED)}`);
    Y.push(`admin: ${q(`127.0.0.1:${adminPort}`)}`);
    Y.push(`log_level: ${logLevel}`);
    Y.push('audit:');
    Y.push(`  dir: ${q(auditDir)}`);
    Y.push(`  signing_key_file: ${q(keys.signingKey)}`);
    Y.push(`  hash_key_file: ${q(keys.hashKey)}`);
    Y.push(`  account: "${ACCOUNT}"`);
    Y.push('upstreams:');
    const jwt = (extra) => [
        '    identity:',
        '      source: jwt',
        `      jwks_file: ${q(jwksFile)}`,
        `      issuer: ${q(ISSUER)}`,
        `      audiences: [${q(AUDIENCE)}]`,
        '      leeway_seconds: 5',
        ...extra,
    ];
    const principalsMap = [
        '      principals:',
        `        "app-client": ${q(PRINCIPAL_APP)}`,
        `        "bob": ${q(PRINCIPAL_BOB)}`,
    ];
    const sts = `http://127.0.0.1:${stsPort}`;
    for (const u of ups) {
        Y.push(`  - name: ${u.name}`);
        Y.push(`    kind: ${u.kind}`);
        Y.push(`    listen: ${q(`127.0.0.1:${u.port}`)}`);
        Y.push(`    region: ${u.region}`);
        Y.push(`    endpoint: ${q(u.endpoint)}`);
        if (u.policyFile) Y.push(`    policy: ${q(u.policyFile)}`);
        if (u.kind === 'azure') {
            Y.push('    deployment_type: datazone');
            Y.push('    api_key_env: AZURE_OPENAI_API_KEY');
            Y.push('    deployments:');
            Y.push(`      ${q(L.AZURE_DEPLOYMENT)}: ${q(L.AZURE_DEPLOYMENT)}`);
        }
        if (u.identity === 'jwt-map') Y.push(...jwt(principalsMap));
        else if (u.identity === 'jwt-template')
            Y.push(...jwt(['      claim: sub', `      principal_template: ${q(`arn:aws:iam::${ACCOUNT}:role/{value}`)}`]));
        else if (u.identity === 'sts')
            Y.push('    identity:', '      source: sts', `      sts_endpoint: ${q(sts)}`, `      cluster_id: ${q(CLUSTER_ID)}`);
        else if (u.identity === 'workload') Y.push('    identity:', '      source: workload', `      sts_endpoint: ${q(sts)}`);
    }
    return Y.join('\n') + '\n';
}

// --------------------------------------------------------------------------------- calls

/** The calls made, for the audit check: {listener, label, principal, errorCode, requestId}. */
const calls = [];

function requestIdOf(x) {
    return (
        (typeof x?.requestId === 'string' ? x.requestId : null) ??
        x?.$metadata?.requestId ??
        x?.response?.$metadata?.requestId ??
        x?.headers?.get?.('x-request-id') ??
        x?.headers?.get?.('x-amzn-requestid') ??
        x?.headers?.get?.('apim-request-id') ??
        x?.headers?.['x-request-id'] ??
        null
    );
}

/**
 * One call through listener `ups`: fn's result or error is handed to judge(result, error),
 * which returns null or a problem. The call is noted with the principal and errorCode its
 * audit record must have (errorCode null: a served call).
 */
async function call(listener, label, expect, fn, judge) {
    let res = null;
    let err = null;
    try {
        res = await fn();
    } catch (e) {
        err = e;
    }
    calls.push({ listener, label, principal: expect.principal, errorCode: expect.errorCode, requestId: requestIdOf(err ?? res) });
    return judge(res, err);
}

/** A Bedrock client that authenticates with `Authorization: Bearer TOKEN` (Bedrock API-key style). */
function bearerClient(port, token) {
    return new BedrockRuntimeClient({
        region: REGION,
        endpoint: `http://127.0.0.1:${port}`,
        token: { token },
        authSchemePreference: ['httpBearerAuth'],
        maxAttempts: 1,
    });
}

/** A Bedrock client that signs with SigV4 (the app's own credentials, no identity token). */
const sigv4Client = (port) => L.bedrockClient({ port, region: REGION });

const served = (want = 'Hello from the simulator.') => (r, e) =>
    e ? `expected a reply, got ${describe(e)}` : r.text === want ? null : `reply ${JSON.stringify(r.text)}, expected ${JSON.stringify(want)}`;

/** Bedrock refusal: the SDK error name (or any, with null) and the HTTP status. */
const bedrockRefused = (name, status) => (r, e) => {
    if (!e) return `expected ${name ?? 'an error'} (${status}), the call succeeded: ${JSON.stringify(r?.text)}`;
    if (statusOf(e) !== status) return `expected HTTP ${status}, got ${describe(e)}`;
    if (name && e.name !== name) return `expected ${name}, got ${describe(e)}`;
    return null;
};

/** openai refusal: the error class and the HTTP status. */
const openaiRefused = (cls, status) => (r, e) => {
    if (!e) return `expected ${cls.name} (${status}), the call succeeded`;
    if (!(e instanceof cls) || e.status !== status) return `expected ${cls.name} ${status}, got ${describe(e)}`;
    return null;
};

// ----------------------------------------------------------------------------- the trail

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

const isGateEvent = (r) => r.eventType === 'AwsServiceEvent' || r.userIdentity?.type === 'AWSService';

function auditChecks(weir, auditDir, keys) {
    const verify = H.runWeir(weir, ['audit', 'verify', auditDir, '--public-key', keys.signingKey]);
    check('weir audit verify DIR passes', verify.code === 0 ? null : `exit ${verify.code}\n${(verify.stdout + verify.stderr).trim().split('\n').slice(-10).join('\n')}`);
    const qr = H.runWeir(weir, ['audit', 'query', auditDir, '--format', 'jsonl']);
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
    if (!check('weir audit query DIR --format jsonl', problem)) return;
    const recs = records.filter((r) => !isGateEvent(r));
    check(`one audit record per call (${calls.length} calls)`, recs.length === calls.length ? null : `${recs.length} call records for ${calls.length} calls`);

    const arnOf = (r) => r.userIdentity?.arn ?? null;
    const codeOf = (r) => r.errorCode ?? null;
    const show = (r) => `{principal: ${arnOf(r)}, errorCode: ${codeOf(r)}, event: ${r.eventName}, requestID: ${r.requestID}}`;

    // Calls whose request id is in the trail: that record must have the call's principal and code.
    const byId = new Map(recs.map((r) => [r.requestID, r]));
    const used = new Set();
    const wrong = [];
    const unmatched = [];
    for (const c of calls) {
        const r = c.requestId ? byId.get(c.requestId) : null;
        if (!r) {
            unmatched.push(c);
            continue;
        }
        used.add(r);
        if (arnOf(r) !== c.principal || codeOf(r) !== c.errorCode)
            wrong.push(`${c.label}: expected {principal: ${c.principal}, errorCode: ${c.errorCode}}, recorded ${show(r)}`);
    }
    // The rest (no request id on the SDK's side): matched by principal and errorCode.
    const left = recs.filter((r) => !used.has(r));
    for (const c of unmatched) {
        const i = left.findIndex((r) => arnOf(r) === c.principal && codeOf(r) === c.errorCode);
        if (i < 0) wrong.push(`${c.label}: no record with {principal: ${c.principal}, errorCode: ${c.errorCode}}`);
        else left.splice(i, 1);
    }
    if (left.length) wrong.push(`records no call explains:\n  ${left.map(show).join('\n  ')}`);
    check(
        `each call's record has its principal and errorCode (${calls.length - unmatched.length} of ${calls.length} correlated by request id${unmatched.length ? `; by content: ${unmatched.map((c) => c.label).join(', ')}` : ''})`,
        wrong.length ? wrong.join('\n') : null,
    );

    // --principal finds the calls of each principal; a role ARN also finds the sessions of
    // that role (userIdentity.sessionContext.sessionIssuer), as `weir help audit query` says.
    const roleOf = (arn) => arn?.replace(/^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/.*$/, 'arn:$1:iam::$2:role/$3') ?? null;
    for (const p of [PRINCIPAL_APP, PRINCIPAL_BOB, STS_APP, STS_BOB, WORKLOAD, ROLE('llm-sidecar')]) {
        const want = calls.filter((c) => c.principal === p || roleOf(c.principal) === p).length;
        const pq = H.runWeir(weir, ['audit', 'query', auditDir, '--principal', p, '--format', 'jsonl']);
        const n = pq.code === 0 ? pq.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)).filter((r) => !isGateEvent(r)).length : -1;
        check(`weir audit query --principal ${p} finds its ${want} calls`, pq.code !== 0 ? `exit ${pq.code}: ${pq.stderr.trim().slice(0, 300)}` : n === want ? null : `found ${n}`);
    }
    return recs;
}

// ---------------------------------------------------------------------------------- main

async function main() {
    const opt = parseArgs(process.argv.slice(2));
    const t0 = Date.now();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-e2e-identity-'));
    process.stdout.write(`weir identity e2e: ${opt.weir}\nwork dir: ${tmp}\n`);
    const keys = H.makeAuditKeys(tmp);
    const jwks = makeJwks(tmp);
    const inst = {
        configFile: path.join(tmp, 'weir.yaml'),
        stdoutFile: path.join(tmp, 'weir.stdout'),
        stderrFile: path.join(tmp, 'weir.stderr'),
        auditDir: path.join(tmp, 'audit'),
    };
    /** Every token text handed to the sidecar: none may be logged or audited. */
    const secrets = { 'AWS secret access key': SIM_DEFAULTS.secretAccessKey, 'Azure api-key': SIM_DEFAULTS.azureKey };
    let sim = null;
    let sts = null;
    let ready = false;
    try {
        sim = await H.startSim(path.join(tmp, 'sim.log'));
        sts = await startStsSimulator({ quiet: true });
        const ups = [
            { name: 'bedrock-jwt', kind: 'bedrock', region: REGION, identity: 'jwt-map' },
            { name: 'azure-jwt', kind: 'azure', region: 'swedencentral', identity: 'jwt-template' },
            { name: 'bedrock-sts', kind: 'bedrock', region: REGION, identity: 'sts' },
            { name: 'bedrock-workload', kind: 'bedrock', region: REGION, identity: 'workload' },
            { name: 'bedrock-eu-jwt', kind: 'bedrock', region: REGION, identity: 'jwt-map', policyFile: POLICY_EU },
        ];
        const ports = await H.freePorts(ups.length + 1);
        inst.adminPort = ports.pop();
        for (const u of ups) {
            u.port = ports.pop();
            u.endpoint = `http://127.0.0.1:${u.kind === 'azure' ? sim.ports.azure : sim.ports.bedrockPorts[REGION]}`;
        }
        const port = Object.fromEntries(ups.map((u) => [u.name, u.port]));
        fs.writeFileSync(
            inst.configFile,
            configYaml({ adminPort: inst.adminPort, auditDir: inst.auditDir, keys, logLevel: opt.logLevel, ups, jwksFile: jwks.file, stsPort: sts.port }),
        );

        H.startWeir(opt.weir, inst);
        const problem = await H.waitReady(inst, 30_000);
        ready = check(`weir serve is ready (GET /readyz on 127.0.0.1:${inst.adminPort} == 200)`, problem);
        if (!ready)
            process.stdout.write(`--- ${inst.configFile}\n${fs.readFileSync(inst.configFile, 'utf8')}--- weir stderr (last lines)\n${H.tail(inst.stderrFile)}\n---\n`);
        check(
            'workload: weir asked STS who it is at start-up (a header-signed GetCallerIdentity the simulator verified)',
            sts.state.headerSigned >= 1 ? null : `sts-sim saw ${sts.state.count} calls, ${sts.state.headerSigned} valid header-signed; last: ${JSON.stringify(sts.state.last)}`,
        );

        if (ready) {
            // ---------------------------------------------------------------- tokens
            const now = Math.floor(Date.now() / 1000);
            const jwtApp = makeJwt(jwks, { sub: 'app-client' });
            const jwtBob = makeJwt(jwks, { sub: 'bob' });
            const jwtAppT = makeJwt(jwks, { sub: 'llm-app' }); // azure-jwt: principal_template role/{value}
            const jwtBobT = makeJwt(jwks, { sub: 'llm-intern-bob' });
            const jwtExpired = makeJwt(jwks, { sub: 'llm-app', iat: now - 3600, exp: now - 600 });
            const jwtWrongAud = makeJwt(jwks, { sub: 'llm-app', aud: 'someone-else' });
            const jwtUnmapped = makeJwt(jwks, { sub: 'stranger' });
            const otherKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
            const jwtForged = makeJwt(jwks, { sub: 'app-client' }, { privateKey: otherKey });
            const stsEndpoint = `http://127.0.0.1:${sts.port}/`;
            const stsTok = (akid, secret, clusterId = CLUSTER_ID) =>
                makeStsToken({ endpoint: stsEndpoint, region: sts.region, clusterId, accessKeyId: akid, secretAccessKey: secret });
            const stsApp = await stsTok('AKIDEXAMPLEAPP000001', STS_KEYS.AKIDEXAMPLEAPP000001.secret);
            const stsBob = await stsTok('AKIDEXAMPLEBOB000001', STS_KEYS.AKIDEXAMPLEBOB000001.secret);
            const stsWrong = await stsTok('AKIDEXAMPLEAPP000001', 'not-the-secret-access-key-of-this-key-id');
            const stsOtherCluster = await stsTok('AKIDEXAMPLEAPP000001', STS_KEYS.AKIDEXAMPLEAPP000001.secret, 'another-cluster');
            const tokens = { jwtApp, jwtBob, jwtAppT, jwtBobT, jwtExpired, jwtWrongAud, jwtUnmapped, jwtForged, stsApp, stsBob, stsWrong, stsOtherCluster };
            for (const [k, v] of Object.entries(tokens)) {
                secrets[`token ${k}`] = v;
                if (k.startsWith('jwt')) secrets[`signature of ${k}`] = v.split('.')[2];
                else {
                    const url = Buffer.from(v.slice('k8s-aws-v1.'.length), 'base64url').toString();
                    secrets[`X-Amz-Signature of ${k}`] = new URL(url).searchParams.get('X-Amz-Signature');
                }
            }
            for (const k of Object.keys(STS_KEYS)) secrets[`STS secret of ${k}`] = STS_KEYS[k].secret;

            // ----------------------------------------------------- JWT on Azure OpenAI
            const az = (apiKey) => L.azureClient({ port: port['azure-jwt'], apiKey });
            await scenario('jwt/azure: AzureOpenAI, api-key = JWT of llm-app (principal_template) -> served', () =>
                call('azure-jwt', 'jwt/azure/app', { principal: PRINCIPAL_APP, errorCode: null }, () => L.chat(az(jwtAppT), 'hello'), served()),
            );
            await scenario('jwt/azure: JWT of llm-intern-bob -> 403 PermissionDeniedError (role denied by the policy)', () =>
                call('azure-jwt', 'jwt/azure/bob', { principal: PRINCIPAL_BOB, errorCode: DENIED }, () => L.chat(az(jwtBobT), 'hello'), openaiRefused(OpenAI.PermissionDeniedError, 403)),
            );
            await scenario("jwt/azure: api-key 'not-a-jwt' -> 401 AuthenticationError", () =>
                call('azure-jwt', 'jwt/azure/not-a-jwt', { principal: null, errorCode: UNAUTH }, () => L.chat(az('not-a-jwt'), 'hello'), openaiRefused(OpenAI.AuthenticationError, 401)),
            );
            await scenario('jwt/azure: expired JWT -> 401 AuthenticationError', () =>
                call('azure-jwt', 'jwt/azure/expired', { principal: null, errorCode: UNAUTH }, () => L.chat(az(jwtExpired), 'hello'), openaiRefused(OpenAI.AuthenticationError, 401)),
            );
            await scenario('jwt/azure: JWT for another audience -> 401 AuthenticationError', () =>
                call('azure-jwt', 'jwt/azure/wrong-aud', { principal: null, errorCode: UNAUTH }, () => L.chat(az(jwtWrongAud), 'hello'), openaiRefused(OpenAI.AuthenticationError, 401)),
            );
            await scenario('jwt/azure: JWT signed by a key not in the JWKS -> 401 AuthenticationError', () =>
                call('azure-jwt', 'jwt/azure/forged', { principal: null, errorCode: UNAUTH }, () => L.chat(az(jwtForged), 'hello'), openaiRefused(OpenAI.AuthenticationError, 401)),
            );
            await scenario('jwt/azure: the upstream got the sidecar api-key, not the JWT', async () => {
                const last = await L.simLast(sim.ports.azure);
                const h = last?.headers ?? {};
                if (h['api-key'] !== SIM_DEFAULTS.azureKey) return `upstream api-key is ${JSON.stringify(h['api-key'])?.slice(0, 20)}…`;
                if (JSON.stringify(last).includes(jwtAppT.split('.')[2])) return 'the JWT reached the upstream';
                return null;
            });

            // --------------------------------------------------------- JWT on Bedrock
            await scenario('jwt/bedrock: Converse with bearer JWT of llm-app (principals map) -> served', () =>
                call('bedrock-jwt', 'jwt/bedrock/app', { principal: PRINCIPAL_APP, errorCode: null }, () => L.converse(bearerClient(port['bedrock-jwt'], jwtApp), 'hello'), served()),
            );
            await scenario('jwt/bedrock: the upstream got a SigV4 request signed by the sidecar, no bearer token', async () => {
                const last = await L.simLast(sim.ports.bedrockPorts[REGION]);
                const auth = last?.headers?.authorization ?? '';
                if (!auth.startsWith(`AWS4-HMAC-SHA256 Credential=${SIM_DEFAULTS.accessKeyId}/`)) return `upstream Authorization: ${auth.slice(0, 60)}`;
                if (last.auth !== 'valid') return `simulator: ${last.auth}`;
                if (JSON.stringify(last).includes(jwtApp.split('.')[2])) return 'the JWT reached the upstream';
                return null;
            });
            await scenario('jwt/bedrock: bearer JWT of bob (llm-intern-bob) -> AccessDeniedException 403', () =>
                call('bedrock-jwt', 'jwt/bedrock/bob', { principal: PRINCIPAL_BOB, errorCode: DENIED }, () => L.converse(bearerClient(port['bedrock-jwt'], jwtBob), 'hello'), bedrockRefused('AccessDeniedException', 403)),
            );
            await scenario('jwt/bedrock: JWT whose sub has no principal -> AccessDeniedException 403', () =>
                call('bedrock-jwt', 'jwt/bedrock/unmapped', { principal: null, errorCode: DENIED }, () => L.converse(bearerClient(port['bedrock-jwt'], jwtUnmapped), 'hello'), bedrockRefused('AccessDeniedException', 403)),
            );
            await scenario('jwt/bedrock: SigV4 with the app credentials, no token -> 401 UnrecognizedClientException', () =>
                call('bedrock-jwt', 'jwt/bedrock/none', { principal: null, errorCode: UNAUTH }, () => L.converse(sigv4Client(port['bedrock-jwt']), 'hello'), bedrockRefused('UnrecognizedClientException', 401)),
            );
            await scenario('jwt/bedrock: expired bearer JWT -> 401 UnrecognizedClientException', () =>
                call('bedrock-jwt', 'jwt/bedrock/expired', { principal: null, errorCode: UNAUTH }, () => L.converse(bearerClient(port['bedrock-jwt'], jwtExpired), 'hello'), bedrockRefused('UnrecognizedClientException', 401)),
            );

            // --------------------------------------------------------------- STS tokens
            await scenario('sts: Converse with k8s-aws-v1 token of the llm-app key -> served', () =>
                call('bedrock-sts', 'sts/app', { principal: STS_APP, errorCode: null }, () => L.converse(bearerClient(port['bedrock-sts'], stsApp), 'hello'), served()),
            );
            await scenario('sts: the same token again (InvokeModel) -> served from the cache, no second STS call', async () => {
                const before = sts.state.count;
                const p = await call('bedrock-sts', 'sts/app-again', { principal: STS_APP, errorCode: null }, () => L.invoke(bearerClient(port['bedrock-sts'], stsApp), 'hello'), served());
                return p ?? (sts.state.count === before ? null : `STS was called ${sts.state.count - before} more time(s)`);
            });
            await scenario('sts: token of the llm-intern-bob key -> AccessDeniedException 403', () =>
                call('bedrock-sts', 'sts/bob', { principal: STS_BOB, errorCode: DENIED }, () => L.converse(bearerClient(port['bedrock-sts'], stsBob), 'hello'), bedrockRefused('AccessDeniedException', 403)),
            );
            await scenario('sts: token signed with a wrong secret (STS: SignatureDoesNotMatch) -> 401 UnrecognizedClientException', () =>
                call('bedrock-sts', 'sts/wrong-secret', { principal: null, errorCode: UNAUTH }, () => L.converse(bearerClient(port['bedrock-sts'], stsWrong), 'hello'), bedrockRefused('UnrecognizedClientException', 401)),
            );
            await scenario('sts: token bound to another cluster id -> 401 UnrecognizedClientException', () =>
                call('bedrock-sts', 'sts/other-cluster', { principal: null, errorCode: UNAUTH }, () => L.converse(bearerClient(port['bedrock-sts'], stsOtherCluster), 'hello'), bedrockRefused('UnrecognizedClientException', 401)),
            );
            await scenario('sts: no token (SigV4 only) -> 401 UnrecognizedClientException', () =>
                call('bedrock-sts', 'sts/none', { principal: null, errorCode: UNAUTH }, () => L.converse(sigv4Client(port['bedrock-sts']), 'hello'), bedrockRefused('UnrecognizedClientException', 401)),
            );

            // ----------------------------------------------------------------- workload
            await scenario('workload: Converse through bedrock-workload (SigV4, no token) -> served as the sidecar role', () =>
                call('bedrock-workload', 'workload/converse', { principal: WORKLOAD, errorCode: null }, () => L.converse(sigv4Client(port['bedrock-workload']), 'hello'), served()),
            );

            // ---------------------------------------------------- residency per listener
            await scenario(`residency: bedrock-eu-jwt, llm-app JWT, ${L.MODEL_US_PROFILE} -> AccessDeniedException 403`, () =>
                call('bedrock-eu-jwt', 'eu/us-profile', { principal: PRINCIPAL_APP, errorCode: DENIED }, () => L.converse(bearerClient(port['bedrock-eu-jwt'], jwtApp), 'hello', L.MODEL_US_PROFILE), bedrockRefused('AccessDeniedException', 403)),
            );
            await scenario(`residency: bedrock-eu-jwt, llm-app JWT, ${MODEL_EU} -> served`, () =>
                call('bedrock-eu-jwt', 'eu/eu-profile', { principal: PRINCIPAL_APP, errorCode: null }, () => L.converse(bearerClient(port['bedrock-eu-jwt'], jwtApp), 'hello', MODEL_EU), served()),
            );
            await scenario('residency: bedrock-eu-jwt, no token -> 401 UnrecognizedClientException', () =>
                call('bedrock-eu-jwt', 'eu/none', { principal: null, errorCode: UNAUTH }, () => L.converse(sigv4Client(port['bedrock-eu-jwt']), 'hello', MODEL_EU), bedrockRefused('UnrecognizedClientException', 401)),
            );
        }

        check('SIGTERM: weir exits 0 within 30 s', await H.stopWeir(inst, 30_000));

        if (ready) {
            auditChecks(opt.weir, inst.auditDir, keys);
            const find = (text) => Object.entries(secrets).filter(([, v]) => v && text.includes(v)).map(([k]) => k);
            const leaks = [];
            for (const part of trailText(inst.auditDir)) {
                const hits = find(part.text);
                if (hits.length) leaks.push(`${path.relative(inst.auditDir, part.file)}: ${hits.join(', ')}`);
            }
            check('the audit trail holds no JWT, STS token, signature or secret', leaks.length ? leaks.join('\n') : null);
            const logs = [inst.stdoutFile, inst.stderrFile].map((f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '')).join('\n');
            const hits = find(logs);
            check("weir's stdout and stderr hold no JWT, STS token, signature or secret", hits.length ? hits.join(', ') : null);
        }
    } catch (e) {
        check('runner', e.stack || String(e));
    } finally {
        if (inst.child && inst.child.exitCode === null && inst.child.signalCode === null) inst.child.kill('SIGKILL');
        if (sim) sim.child.kill('SIGTERM');
        if (sts) await sts.close();
    }

    const failed = results.filter((r) => !r.ok).length;
    if (failed) process.stdout.write(`--- weir stderr (last lines)\n${H.tail(inst.stderrFile, 40)}\n`);
    process.stdout.write(`\nidentity e2e: ${results.length - failed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    if (failed || opt.keep) process.stdout.write(`kept ${tmp} (config, JWKS, weir logs, audit trail, simulator log)\n`);
    else fs.rmSync(tmp, { recursive: true, force: true });
    process.exit(failed ? 1 : 0);
}

main();
