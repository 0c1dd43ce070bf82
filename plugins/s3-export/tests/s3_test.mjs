// s3_test.mjs - integration tests of weir-s3-export.so against s3rver behind a SigV4-verifying
// front (s3rver itself does not check V4 signatures).
//
//   node s3_test.mjs <tests/e2e/package.json> <case> <weir-s3-export.so> <driver>
//
// Cases: happy | retry | badsig | restart | config | hol | nostall. Each starts s3rver and the
// front on port 0 (HTTPS with a throw-away certificate where delete_after_upload is used),
// writes a trail (gzip logs, digests with .sig files) in a temp directory, runs the C driver
// (tests/driver.c) that loads the plugin like weir does, and checks the bucket with
// @aws-sdk/client-s3. Exit 0: pass; 1: fail.
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { startS3 as startS3At, startFront as startFrontAt, makeTlsCert } from './s3front.mjs';

const [pkgJson, caseName, pluginPath, driverPath] = process.argv.slice(2);
if (!pkgJson || !caseName || !pluginPath || !driverPath) {
    console.error('usage: node s3_test.mjs <tests/e2e/package.json> <case> <plugin.so> <driver>');
    process.exit(1);
}
const require = createRequire(path.resolve(pkgJson));
const { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } = require('@aws-sdk/client-s3');

const BUCKET = 'weir-trail';
const REGION = 'eu-central-1';
const ACCT = '111122223333';
const AKID = 'AKIDS3EXPORTTEST';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const PREFIX = 'org=x/prod/';

let failures = 0;
function check(cond, what, detail) {
    if (cond) {
        console.log(`ok   ${what}`);
    } else {
        failures++;
        console.log(`FAIL ${what}${detail !== undefined ? `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}`);
    }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond, ms, what) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (await cond()) return true;
        await sleep(50);
    }
    throw new Error(`timed out waiting for ${what}`);
}

// ---------------------------------------------------------------- trail files

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 's3x-'));
let mtime = Date.now() / 1000 - 3600;

function stamp(i) {
    return `20260801T09${String(i % 60).padStart(2, '0')}Z`;
}
function rnd16() {
    const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (const b of crypto.randomBytes(16)) s += a[b % a.length];
    return s;
}
function writeFile(root, key, data) {
    const p = path.join(root, key);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    mtime += 1;
    fs.utimesSync(p, mtime, mtime);
    return p;
}
/** A gzip log file; returns its key. */
function makeLog(root, i) {
    const key = `AWSLogs/${ACCT}/CloudTrail/${REGION}/2026/08/01/${ACCT}_CloudTrail_${REGION}_${stamp(i)}_${rnd16()}.json.gz`;
    const records = { Records: [{ eventVersion: '1.11', eventID: crypto.randomUUID(), eventName: 'InvokeModel', n: i, pad: crypto.randomBytes(600).toString('base64') }] };
    writeFile(root, key, zlib.gzipSync(JSON.stringify(records)));
    return key;
}
/** A digest with its .sig (arbitrary hex); returns {key, sig}. */
function makeDigest(root, i) {
    const key = `AWSLogs/${ACCT}/CloudTrail-Digest/${REGION}/2026/08/01/${ACCT}_CloudTrail-Digest_${REGION}_weir_${REGION}_20260801T10${String(i).padStart(2, '0')}00Z.json.gz`;
    const sig = crypto.randomBytes(384).toString('hex');
    writeFile(root, key + '.sig', sig);
    writeFile(root, key, zlib.gzipSync(JSON.stringify({ awsAccountId: ACCT, digestSignatureAlgorithm: 'SHA256withRSA', n: i, logFiles: [] })));
    return { key, sig };
}
function newTrail(name) {
    const root = path.join(tmpRoot, name);
    fs.mkdirSync(path.join(root, 'journal'), { recursive: true });
    fs.writeFileSync(path.join(root, 'journal', 'journal.jsonl'), '{"x":1}\n');
    return root;
}
/** Files that must never be uploaded: a temp file, an Insight file, a stray file. */
function makeNoise(root) {
    const dir = `AWSLogs/${ACCT}/CloudTrail/${REGION}/2026/08/01`;
    writeFile(root, `${dir}/.${ACCT}_CloudTrail_${REGION}_20260801T0959Z_${rnd16()}.json.gz.tmp`, 'partial');
    writeFile(root, `AWSLogs/${ACCT}/CloudTrail-Insight/${REGION}/2026/08/01/x.json.gz`, 'insight');
    writeFile(root, `${dir}/notes.txt`, 'stray');
}
const exists = (root, key) => fs.existsSync(path.join(root, key));

// ---------------------------------------------------------------- s3rver + verifying front

const startS3 = () => startS3At({ dir: path.join(tmpRoot, 's3rver'), bucket: BUCKET });
let tlsCert = null;
/** The front; `tls: true` makes it HTTPS (front.caFile is its certificate, for ca_file). */
async function startFront(s3, { secret = SECRET, tls = false, refuseKeys = null } = {}) {
    if (tls && !tlsCert) tlsCert = makeTlsCert(path.join(tmpRoot, 'tls'));
    const front = await startFrontAt(s3, { accessKeyId: AKID, secret, region: REGION, bucket: BUCKET, refuseKeys, tls: tls ? tlsCert : null });
    if (tls) front.caFile = tlsCert.certFile;
    return front;
}

// ---------------------------------------------------------------- driver

const children = new Set();

function baseEnv(extra = {}) {
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
    return { ...env, ...extra };
}
const credEnv = () => baseEnv({ AWS_ACCESS_KEY_ID: AKID, AWS_SECRET_ACCESS_KEY: SECRET });

/** The sink's config for a front: allow_http for an http:// front, its CA for an https:// one. */
function config(front, extra = {}) {
    const transport = front.url.startsWith('http:') ? { allow_http: true } : { ca_file: front.caFile };
    return JSON.stringify({ bucket: BUCKET, region: REGION, endpoint: front.url, prefix: PREFIX, backoff_initial_ms: 100, backoff_max_ms: 400, timeout_ms: 10000, ...transport, ...extra });
}

/** Runs the driver; `offers` (lines) are written to stdin once it says "create: ok". */
function runDriver(root, cfg, { env = credEnv(), args = [], offers = null, onStart = null, manualStdin = false } = {}) {
    const argv = [pluginPath, root, cfg, ...args];
    if (offers || manualStdin) argv.push('--stdin');
    const child = spawn(driverPath, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    const out = { stdout: '', stderr: '', code: null, child };
    let started = false;
    child.stdout.on('data', (d) => {
        out.stdout += d;
        if (!started && out.stdout.includes('create: ok')) {
            started = true;
            if (manualStdin) return;
            Promise.resolve(onStart ? onStart() : null).then(() => {
                if (offers) child.stdin.write(offers.join('\n') + '\n');
                child.stdin.end();
            });
        }
    });
    child.stderr.on('data', (d) => (out.stderr += d));
    out.done = new Promise((resolve) => {
        child.on('close', (code) => {
            out.code = code;
            const m = /^metrics (\{.*\})$/m.exec(out.stdout);
            out.metrics = m ? JSON.parse(m[1]) : {};
            if (!started || manualStdin) child.stdin.end();
            resolve(out);
        });
    });
    return out;
}

/** Asks a running driver (manualStdin) for its metrics so far. */
async function metricsNow(run) {
    const count = () => (run.stdout.match(/^metrics-now /gm) || []).length;
    const n = count();
    run.child.stdin.write('metrics\n');
    await waitFor(() => count() > n || run.code !== null, 10000, 'metrics-now');
    const all = [...run.stdout.matchAll(/^metrics-now (\{.*\})$/gm)];
    return all.length ? JSON.parse(all[all.length - 1][1]) : {};
}

function asanClean(out, what) {
    check(!/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(out.stderr), `${what}: no sanitizer report`, out.stderr.slice(-3000));
}

async function listKeys(s3) {
    const keys = [];
    let token;
    do {
        const r = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }));
        for (const o of r.Contents || []) keys.push(o.Key);
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
}
async function getBytes(s3, key) {
    const r = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await r.Body.transformToByteArray());
}

/** Every expected object is in the bucket, nothing else, with the local bytes. */
async function checkBucket(s3, root, expected, localBytes, what) {
    const keys = await listKeys(s3);
    const want = expected.map((k) => PREFIX + k).sort();
    check(JSON.stringify(keys) === JSON.stringify(want), `${what}: bucket holds exactly the expected keys (${want.length})`, { keys, want });
    for (const k of expected) {
        if (!keys.includes(PREFIX + k)) continue;
        const got = await getBytes(s3, PREFIX + k);
        const local = localBytes[k] ?? fs.readFileSync(path.join(root, k));
        check(got.equals(local), `${what}: ${path.basename(k)} bytes equal`);
    }
}
async function checkDigestMeta(s3, key, sig, what) {
    const h = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: PREFIX + key }));
    check(h.Metadata?.signature === sig, `${what}: ${path.basename(key)} x-amz-meta-signature is the .sig hex`, h.Metadata);
    check(h.Metadata?.['signature-algorithm'] === 'SHA256withRSA', `${what}: x-amz-meta-signature-algorithm SHA256withRSA`);
}
function ledgerKeys(root) {
    const dir = path.join(root, '.s3-export');
    if (!fs.existsSync(dir)) return [];
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.done'));
    return files.flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));
}

// ---------------------------------------------------------------- cases

async function caseHappy(s3) {
    const front = await startFront(s3);
    const root = newTrail('happy');
    makeNoise(root);
    const early = makeLog(root, 1); // on disk before create: found by the scan
    const logs = [early];
    const digests = [];
    const run = runDriver(root, config(front), {
        env: baseEnv(), // credentials from the host callback only
        args: ['--host-creds', `${AKID}:${SECRET}`],
        manualStdin: true,
    });
    // offer files written after create, as weir does
    const lines = [];
    await waitFor(() => run.stdout.includes('create: ok') || run.code !== null, 20000, 'create');
    logs.push(makeLog(root, 2), makeLog(root, 3));
    digests.push(makeDigest(root, 1));
    logs.push(makeLog(root, 4));
    digests.push(makeDigest(root, 2));
    lines.push(`log ${logs[1]}`, `log ${logs[2]}`, `digest ${digests[0].key} ${digests[0].sig}`, `log ${logs[3]}`, `digest ${digests[1].key}`);
    lines.push(`log ${early}`); // already queued by the scan: not uploaded twice
    run.child.stdin.write(lines.join('\n') + '\n');
    run.child.stdin.end();
    const out = await run.done;
    check(out.code === 0, 'happy: driver flushed everything (exit 0)', out.stdout + out.stderr);
    asanClean(out, 'happy');
    const expected = [...logs, ...digests.flatMap((d) => [d.key, d.key + '.sig'])];
    await checkBucket(s3, root, expected, {}, 'happy');
    for (const d of digests) await checkDigestMeta(s3, d.key, d.sig, 'happy');
    check(out.metrics.uploads === expected.length, `happy: counter uploads = ${expected.length}`, out.metrics);
    check(!out.metrics.upload_failures, 'happy: no upload_failures', out.metrics);
    check(out.metrics.pending_files === 0 && out.metrics.failing_files === 0, 'happy: gauges pending_files/failing_files back to 0', out.metrics);
    check(out.metrics.upload_bytes > 0, 'happy: counter upload_bytes counted', out.metrics);
    check(expected.every((k) => front.putsFor(PREFIX + k) === 1), 'happy: each object PUT exactly once');
    const put = front.puts.find((p) => p.path.includes('CloudTrail_'));
    check(put && put.path.startsWith(`/${BUCKET}/org%3Dx/prod/AWSLogs/`), 'happy: path-style URL with the prefix URI-encoded', put?.path);
    check(logs.every((k) => exists(root, k)), 'happy: local files kept (delete_after_upload off)');
    const ledger = ledgerKeys(root);
    check([...logs, ...digests.map((d) => d.key)].every((k) => ledger.includes(k)), 'happy: ledger lists every delivered log and digest', ledger);
    check(!(await listKeys(s3)).some((k) => k.includes('.tmp') || k.includes('Insight') || k.endsWith('.txt')), 'happy: temp/insight/stray files not uploaded');
    front.server.close();
}

async function caseRetry(s3) {
    const front = await startFront(s3, { tls: true });
    front.mode = 'refuse';
    const root = newTrail('retry');
    const logs = [makeLog(root, 1), makeLog(root, 2)];
    const dg = makeDigest(root, 1);
    const bytes = Object.fromEntries(logs.map((k) => [k, fs.readFileSync(path.join(root, k))]));
    const run = runDriver(root, config(front, { delete_after_upload: true, max_attempts_before_alert: 3, alert_repeat_seconds: 1 }), { args: ['--flush-ms', '60000'] });
    await waitFor(() => front.refused.length >= 6 || run.code !== null, 30000, '6 refused attempts');
    check(logs.every((k) => exists(root, k)), 'retry: logs still on disk while the server refuses');
    check(front.puts.every((p) => p.status !== 200) && !/uploaded after/.test(run.stderr), 'retry: nothing uploaded while refused');
    const gaps = front.refused.slice(1, 6).map((r, i) => r.at - front.refused[i].at);
    // backoff 100 ms doubling to 400, jitter [d/2, d]: >= 50, 100, 200, 200, 200
    check(gaps[0] >= 40 && gaps[2] >= 180 && gaps.reduce((a, b) => a + b, 0) >= 700, 'retry: exponential backoff between attempts', gaps);
    check(gaps.every((g) => g <= 5000), 'retry: backoff capped by backoff_max_ms', gaps);
    front.mode = 'ok';
    const out = await run.done;
    check(out.code === 0, 'retry: flush completed after the server came back', out.stdout + out.stderr);
    asanClean(out, 'retry');
    check(out.metrics.upload_failures >= 6, 'retry: failed attempts counted in upload_failures', out.metrics);
    check(out.metrics.files_alerted >= 1, 'retry: a file past max_attempts_before_alert counted in files_alerted', out.metrics);
    check(/\[error\] s3-export: .* not uploaded to s3:\/\/weir-trail\/org=x\/prod\/.* after 3 attempts \(HTTP 503 SlowDown/.test(out.stderr) ||
          /\[error\] s3-export: .* after 3 attempts \(NetworkError/.test(out.stderr), 'retry: ERROR logged at the alert threshold with the S3 code', out.stderr);
    check(/\[warn\] s3-export: .*upload attempt 1 failed \(HTTP 503 SlowDown: Please reduce your request rate\./.test(out.stderr), 'retry: WARN with S3 error Code and Message', out.stderr);
    check(/NetworkError/.test(out.stderr), 'retry: dropped connections logged as NetworkError', out.stderr);
    check(/uploaded after \d+ failed attempts/.test(out.stderr), 'retry: recovery logged');
    await checkBucket(s3, root, [...logs, dg.key, dg.key + '.sig'], bytes, 'retry');
    await checkDigestMeta(s3, dg.key, dg.sig, 'retry');
    check(logs.every((k) => !exists(root, k)), 'retry: logs deleted after confirmed upload (delete_after_upload)');
    check(exists(root, dg.key) && exists(root, dg.key + '.sig'), 'retry: digest and .sig never deleted');
    check(out.metrics.files_deleted === 2, 'retry: counter files_deleted = 2', out.metrics);
    check(out.metrics.failing_files === 0, 'retry: gauge failing_files back to 0', out.metrics);
    const ledger = ledgerKeys(root);
    check(logs.every((k) => ledger.includes(k)), 'retry: deleted logs stay in the ledger');
    front.server.close();
}

async function caseBadSig(s3) {
    const front = await startFront(s3, { secret: 'another-secret-the-server-expects', tls: true });
    const root = newTrail('badsig');
    const logs = [makeLog(root, 1)];
    const dg = makeDigest(root, 1);
    const out = await runDriver(root, config(front, { delete_after_upload: true, max_attempts_before_alert: 2 }), { args: ['--flush-ms', '3000'] }).done;
    check(out.code === 3 && /flush: 1/.test(out.stdout), 'badsig: flush reports pending (exit 3)', out.stdout + out.stderr);
    asanClean(out, 'badsig');
    check(/HTTP 403 SignatureDoesNotMatch: The request signature we calculated/.test(out.stderr), 'badsig: 403 logged with S3 Code and Message', out.stderr);
    check(/\[error\] s3-export: .* after 2 attempts \(HTTP 403 SignatureDoesNotMatch/.test(out.stderr), 'badsig: ERROR at the alert threshold');
    check(out.metrics.upload_failures >= 2, 'badsig: failures counted', out.metrics);
    check(out.metrics.failing_files >= 1, 'badsig: gauge failing_files >= 1', out.metrics);
    check(out.metrics.pending_files >= 1, 'badsig: gauge pending_files >= 1', out.metrics);
    check(!out.stderr.includes(SECRET) && !out.stdout.includes(SECRET), 'badsig: secret never logged');
    check(front.signatures.length > 0 && !front.signatures.some((s) => out.stderr.includes(s)), 'badsig: signature never logged');
    check(exists(root, logs[0]) && exists(root, dg.key) && exists(root, dg.key + '.sig'), 'badsig: files still on disk (never dropped, never deleted)');
    check((await listKeys(s3)).length === 0, 'badsig: nothing in the bucket');
    check(ledgerKeys(root).length === 0, 'badsig: nothing in the ledger');
    // destroy interrupts a long backoff sleep, and aborts a request in flight
    for (const [what, extra, mode] of [['backoff sleep', { backoff_initial_ms: 60000, backoff_max_ms: 60000 }, 'ok'], ['request in flight', { timeout_ms: 60000 }, 'hang']]) {
        front.mode = mode;
        const t0 = Date.now();
        const o = await runDriver(root, config(front, extra), { args: ['--flush-ms', '1000'] }).done;
        const ms = Date.now() - t0;
        check(o.code === 3 && ms < 8000, `badsig: destroy stops promptly during a ${what} (${ms} ms)`, o.stdout + o.stderr);
        asanClean(o, `badsig ${what}`);
        check(exists(root, logs[0]), `badsig: file kept after a stop during a ${what}`);
    }
    front.server.closeAllConnections();
    front.server.close();
    // The operator fixes the credentials: the next create finds the files again.
    const good = await startFront(s3, { tls: true });
    const out2 = await runDriver(root, config(good, { delete_after_upload: true })).done;
    check(out2.code === 0, 'badsig: after a fix, the next run delivers everything', out2.stdout + out2.stderr);
    asanClean(out2, 'badsig rerun');
    check(/1 queued|2 file\(s\)/.test(out2.stderr) || out2.metrics.uploads === 3, 'badsig: found by the scan at create', out2.stderr);
    check((await listKeys(s3)).length === 3, 'badsig: log, digest and .sig uploaded', await listKeys(s3));
    check(!exists(root, logs[0]), 'badsig: log deleted only after that upload');
    good.server.close();
}

async function caseRestart(s3) {
    const front = await startFront(s3);
    const root = newTrail('restart');
    const first = [makeLog(root, 1), makeLog(root, 2)];
    const d1 = makeDigest(root, 1);
    const out1 = await runDriver(root, config(front)).done;
    check(out1.code === 0, 'restart: first run delivers what the scan found', out1.stdout + out1.stderr);
    check(out1.metrics.uploads === 4, 'restart: first run uploads 2 logs + digest + .sig', out1.metrics);
    asanClean(out1, 'restart run 1');
    // files delivered while the sink was down, a torn ledger line from a crash
    const second = [makeLog(root, 3), makeLog(root, 4)];
    const d2 = makeDigest(root, 2);
    const ledgerFile = fs.readdirSync(path.join(root, '.s3-export')).find((f) => f.endsWith('.done'));
    fs.appendFileSync(path.join(root, '.s3-export', ledgerFile), second[0].slice(0, 30));
    const out2 = await runDriver(root, config(front)).done;
    check(out2.code === 0, 'restart: second run delivers the new files', out2.stdout + out2.stderr);
    asanClean(out2, 'restart run 2');
    check(out2.metrics.uploads === 4, 'restart: second run uploads only the 4 new objects', out2.metrics);
    check(/4 file\(s\)|3 file\(s\)/.test(out2.stderr), 'restart: logs what it queued at create', out2.stderr);
    const all = [...first, d1.key, d1.key + '.sig', ...second, d2.key, d2.key + '.sig'];
    await checkBucket(s3, root, all, {}, 'restart');
    check(all.every((k) => front.putsFor(PREFIX + k) === 1), 'restart: no object PUT twice across restarts', all.map((k) => front.putsFor(PREFIX + k)));
    // A file offered again after it was delivered is skipped.
    const before = front.puts.length;
    const out3 = await runDriver(root, config(front), { offers: [`log ${first[0]}`, `digest ${d2.key} ${d2.sig}`] }).done;
    check(out3.code === 0 && /offer .*: 0/.test(out3.stdout), 'restart: re-offered files accepted', out3.stdout);
    check(front.puts.length === before, 'restart: files already in the ledger are not uploaded again', front.puts.length - before);
    asanClean(out3, 'restart run 3');
    // A different prefix is a different destination with its own ledger.
    const out4 = await runDriver(root, config(front, { prefix: 'other/' })).done;
    check(out4.code === 0 && out4.metrics.uploads === all.length, 'restart: another prefix has its own ledger and gets everything', out4.metrics);
    front.server.close();
}

async function caseConfig() {
    const root = newTrail('config');
    const front = { url: 'http://127.0.0.1:9' };
    const cases = [
        ['missing bucket', '{"region":"eu-central-1"}', credEnv(), "'bucket' is required"],
        ['unknown key', config(front, { colour: 'blue' }), credEnv(), "unknown config key 'colour'"],
        ['static credentials', config(front, { secret_access_key: 'x' }), credEnv(), 'credentials never go in the config'],
        ['no credentials', config(front), baseEnv(), 'no AWS credentials'],
        ['no region', JSON.stringify({ bucket: BUCKET }), credEnv(), "'region' (the bucket's region) is required"],
        ['bad sse', config(front, { sse: 'rot13' }), credEnv(), "'sse' must be"],
        ['kms key without kms', config(front, { kms_key_id: 'alias/x' }), credEnv(), "'kms_key_id' needs"],
        ['endpoint with a path', config(front, { endpoint: 'http://127.0.0.1:9/x' }), credEnv(), 'no path'],
        ['not JSON', '{bucket:', credEnv(), 'not valid JSON'],
        ['bad number', config(front, { backoff_initial_ms: -1 }), credEnv(), "'backoff_initial_ms' must be an integer"],
        ['backoff order', config(front, { backoff_initial_ms: 5000, backoff_max_ms: 100 }), credEnv(), "'backoff_max_ms' must be at least"],
        ['http endpoint without allow_http', config(front, { allow_http: undefined }), credEnv(), "'endpoint' is http://: signed requests"],
        ['delete_after_upload over http', config(front, { delete_after_upload: true }), credEnv(), "'delete_after_upload' is refused with an http:// endpoint"],
        ['allow_http not a boolean', config(front, { allow_http: 'yes' }), credEnv(), "'allow_http' must be true or false"],
        ['prefix with a .. segment', config(front, { prefix: 'org/../prod/' }), credEnv(), `must not hold "." or ".." segments nor "//"`],
        ['prefix with a . segment', config(front, { prefix: './prod/' }), credEnv(), `must not hold "." or ".." segments nor "//"`],
        ['prefix ending in ..', config(front, { prefix: 'org/..' }), credEnv(), `must not hold "." or ".." segments nor "//"`],
        ['prefix with //', config(front, { prefix: 'org//prod/' }), credEnv(), `must not hold "." or ".." segments nor "//"`],
    ];
    for (const [what, cfg, env, want] of cases) {
        const out = await runDriver(root, cfg, { env }).done;
        check(out.code === 2 && out.stdout.includes('create failed: s3-export: ') && out.stdout.includes(want), `config: ${what} refused ("${want}")`, out.stdout + out.stderr);
        asanClean(out, `config ${what}`);
    }
    // region from AWS_REGION is accepted; credentials from the environment
    const ok = await runDriver(root, JSON.stringify({ bucket: BUCKET, endpoint: front.url, allow_http: true }), { env: { ...credEnv(), AWS_REGION: REGION }, args: ['--flush-ms', '0'] }).done;
    check(ok.code === 0 && ok.stdout.includes('create: ok'), 'config: region from AWS_REGION, credentials from the environment', ok.stdout + ok.stderr);
    // https with delete_after_upload, and dots inside prefix segments, are fine
    const tls = JSON.stringify({ bucket: BUCKET, region: REGION, endpoint: 'https://127.0.0.1:9', delete_after_upload: true, prefix: 'a.b/..c/.d./' });
    const ok2 = await runDriver(root, tls, { args: ['--flush-ms', '0'] }).done;
    check(ok2.code === 0 && ok2.stdout.includes('create: ok'), 'config: https endpoint with delete_after_upload and a prefix with dotted names accepted', ok2.stdout + ok2.stderr);
    asanClean(ok2, 'config https');
}

async function caseHol(s3) {
    const root = newTrail('hol');
    const bad = makeLog(root, 1); // the oldest file: first in the queue
    const good = [makeLog(root, 2), makeLog(root, 3)];
    const dg = makeDigest(root, 1);
    const front = await startFront(s3, { refuseKeys: new Set([PREFIX + bad]) });
    const run = runDriver(root, config(front, { max_attempts_before_alert: 2, alert_repeat_seconds: 1 }), { manualStdin: true, args: ['--flush-ms', '30000'] });
    await waitFor(() => run.stdout.includes('create: ok') || run.code !== null, 20000, 'create');
    const later = makeLog(root, 4); // offered while the first one keeps failing
    run.child.stdin.write(`log ${later}\n`);
    const others = [...good, later, dg.key, dg.key + '.sig'];
    await waitFor(() => others.every((k) => front.putsFor(PREFIX + k) === 1) && front.denied.length >= 3, 20000, 'the other files uploaded while one key is refused');
    check(front.putsFor(PREFIX + bad) === 0 && front.denied.every((r) => decodeURIComponent(r.path) === `/${BUCKET}/${PREFIX}${bad}`), 'hol: only the refused file is held back; every other file is uploaded');
    let m = {};
    const end = Date.now() + 15000;
    while (Date.now() < end && !(m.failing_files === 1 && m.pending_files === 1)) {
        m = await metricsNow(run);
        if (!(m.failing_files === 1 && m.pending_files === 1)) await sleep(100);
    }
    check(m.failing_files === 1 && m.pending_files === 1 && m.files_alerted === 1, 'hol: the refused file is counted as failing (failing_files 1, pending_files 1, files_alerted 1)', m);
    check(m.oldest_pending_seconds > 0, 'hol: oldest_pending_seconds counts the held-back file', m);
    check(m.upload_failures >= 2 && m.uploads === others.length, 'hol: its failures counted, the others uploaded', m);
    check(run.stderr.split('\n').some((l) => l.startsWith(`[error] s3-export: ${bad} not uploaded`) && /after 2 attempts \(HTTP 403 AccessDenied/.test(l)), 'hol: ERROR at the threshold names the refused file and the S3 code', run.stderr);
    check(exists(root, bad), 'hol: the refused file stays on disk');
    const denied = front.denied.length;
    front.refuseKeys = null; // the operator fixes the policy
    run.child.stdin.end();
    const out = await run.done;
    check(out.code === 0, 'hol: once allowed, the held-back file is uploaded and flush completes', out.stdout + out.stderr);
    asanClean(out, 'hol');
    check(front.putsFor(PREFIX + bad) === 1 && others.every((k) => front.putsFor(PREFIX + k) === 1), 'hol: every object PUT once with success');
    check(denied >= 3 && front.denied.length >= denied, 'hol: the refused file was retried (each attempt refused)', denied);
    check(out.metrics.failing_files === 0 && out.metrics.pending_files === 0, 'hol: gauges back to 0', out.metrics);
    check(out.stderr.includes(`${bad} uploaded after`), 'hol: recovery logged', out.stderr);
    await checkBucket(s3, root, [bad, ...others], {}, 'hol');
    const ledger = ledgerKeys(root);
    check([bad, ...good, later, dg.key].every((k) => ledger.includes(k)), 'hol: ledger lists every file', ledger);
    front.server.close();
}

async function caseNostall(s3) {
    const root = newTrail('nostall');
    const first = makeLog(root, 1);
    const front = await startFront(s3);
    front.mode = 'refuse';
    // the host's log callback takes 2.5 s for each WARN/ERROR (a slow log sink)
    const run = runDriver(root, config(front), { manualStdin: true, args: ['--slow-log-ms', '2500', '--flush-ms', '30000'] });
    await waitFor(() => run.stdout.includes('create: ok') || run.code !== null, 20000, 'create');
    await waitFor(() => /upload attempt 1 failed/.test(run.stderr) || run.code !== null, 20000, 'a failed attempt being logged');
    // the worker is inside the slow log call now: offers must not wait for it
    const later = [makeLog(root, 2), makeLog(root, 3)];
    run.child.stdin.write(later.map((k) => `log ${k}`).join('\n') + '\n');
    await waitFor(() => later.every((k) => run.stdout.includes(`offer ${k}: 0`)) || run.code !== null, 20000, 'the offers answered');
    front.mode = 'ok';
    run.child.stdin.end();
    const out = await run.done;
    const max = /offer-max-ms ([\d.]+)/.exec(out.stdout);
    check(max && +max[1] < 1000, `nostall: sink_file returns at once while the worker is in a 2.5 s log call (longest ${max?.[1]} ms)`, out.stdout);
    check(out.code === 0 && out.metrics.uploads === 3, 'nostall: everything uploaded once the server is back', out.stdout + out.stderr);
    asanClean(out, 'nostall');
    await checkBucket(s3, root, [first, ...later], {}, 'nostall');
    front.server.close();
}

// ---------------------------------------------------------------- main

const cases = { happy: caseHappy, retry: caseRetry, badsig: caseBadSig, restart: caseRestart, config: caseConfig, hol: caseHol, nostall: caseNostall };
if (!cases[caseName]) {
    console.error(`unknown case ${caseName}`);
    process.exit(1);
}
let s3;
try {
    if (caseName !== 'config') s3 = await startS3();
    await cases[caseName](s3);
} catch (e) {
    failures++;
    console.log(`FAIL ${caseName}: ${e.stack || e}`);
} finally {
    for (const c of children) c.kill('SIGKILL');
    if (s3) await s3.server.close();
    fs.rmSync(tmpRoot, { recursive: true, force: true });
}
console.log(failures ? `${caseName}: ${failures} failure(s)` : `${caseName}: all passed`);
process.exit(failures ? 1 : 0);
