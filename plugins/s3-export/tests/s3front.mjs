// s3front.mjs - a local S3 for tests: s3rver, behind a front that verifies what s3rver does
// not (the SigV4 signature of every request, recomputed with @smithy/signature-v4,
// x-amz-content-sha256 and Content-MD5) and records every PUT. Used by the s3-export
// plugin's tests (s3_test.mjs) and by the sidecar's plugins e2e (tests/e2e/plugins.mjs).
//
//   const s3 = await startS3({ dir, bucket });      // {server, url, port, client}
//   const front = await startFront(s3, { accessKeyId, secret, region, bucket });
//   front.url, front.mode = 'ok' | 'refuse' | 'hang', front.puts, front.putsFor(key)
// Optional (startFront's options):
//   refuseKeys: a Set of object keys (prefix included) or a predicate (key) => bool: PUTs of
//     those keys get 403 AccessDenied (recorded in front.denied); front.refuseKeys can be
//     changed (or set to null) later.
//   tls: { key, cert } (PEM): the front speaks HTTPS (front.url is https://127.0.0.1:port);
//     makeTlsCert(dir) writes a self-signed certificate for 127.0.0.1 with the openssl CLI.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// the test dependencies live in tests/e2e/node_modules
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(here, '..', '..', '..', 'tests', 'e2e', 'package.json'));
const S3rver = require('s3rver');
const { S3Client } = require('@aws-sdk/client-s3');
const { SignatureV4 } = require('@smithy/signature-v4');
const { HttpRequest } = require('@smithy/protocol-http');
const { Sha256 } = require('@aws-crypto/sha256-js');

export async function startS3({ dir, bucket }) {
    fs.mkdirSync(dir, { recursive: true });
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
    const addr = await server.run();
    const url = `http://127.0.0.1:${addr.port}`;
    const client = new S3Client({
        endpoint: url, region: 'us-east-1', forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    return { server, url, port: addr.port, client };
}

function s3Error(res, status, code, message) {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>front</RequestId></Error>`);
}

/** S3's canonical URI for a path as received: decode, then encode once (RFC 3986 unreserved). */
function s3CanonicalPath(raw) {
    return raw
        .split('/')
        .map((seg) => encodeURIComponent(decodeURIComponent(seg)).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()))
        .join('/');
}

async function verifyS3SigV4(req, rawPath, body, { accessKeyId, secret, region }) {
    const auth = req.headers.authorization || '';
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;._-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return ['AuthorizationHeaderMalformed', 'The authorization header is malformed'];
    const [, akid, scopeDate, scopeRegion, scopeService, signedHeaders] = m;
    if (akid !== accessKeyId) return ['InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
    if (scopeService !== 's3' || scopeRegion !== region) return ['AuthorizationHeaderMalformed', `bad scope ${scopeRegion}/${scopeService}`];
    const names = signedHeaders.split(';');
    for (const need of ['host', 'x-amz-content-sha256', 'x-amz-date'])
        if (!names.includes(need)) return ['AccessDenied', `${need} must be signed`];
    const amzDate = req.headers['x-amz-date'] || '';
    const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (!dm || amzDate.slice(0, 8) !== scopeDate) return ['AccessDenied', 'bad x-amz-date'];
    const when = new Date(Date.UTC(+dm[1], +dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]));
    if (Math.abs(Date.now() - when.getTime()) > 15 * 60 * 1000) return ['RequestTimeTooSkewed', 'skew'];
    const actual = crypto.createHash('sha256').update(body).digest('hex');
    if (req.headers['x-amz-content-sha256'] !== actual) return ['XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed."];
    const headers = {};
    for (const n of names) {
        const v = req.headers[n];
        if (v === undefined) return ['AccessDenied', `signed header ${n} missing`];
        headers[n] = Array.isArray(v) ? v.join(',') : String(v);
    }
    const request = new HttpRequest({ method: req.method, protocol: 'http:', hostname: String(req.headers.host).replace(/:\d+$/, ''), path: s3CanonicalPath(rawPath), query: {}, headers, body: new Uint8Array(body) });
    const signer = new SignatureV4({ credentials: { accessKeyId, secretAccessKey: secret }, region, service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false });
    const signed = await signer.sign(request, { signingDate: when, signableHeaders: new Set(names) });
    const a = Buffer.from(signed.headers.authorization), b = Buffer.from(auth.replace(/, ?/g, ', '));
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b))
        return ['SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'];
    return null;
}

/**
 * A self-signed certificate for 127.0.0.1 (and localhost) in dir: {key, cert, certFile}
 * (PEM strings and the certificate's path, for the plugin's ca_file). Needs the openssl CLI.
 */
export function makeTlsCert(dir) {
    fs.mkdirSync(dir, { recursive: true });
    const keyFile = path.join(dir, 'front.key'), certFile = path.join(dir, 'front.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), certFile };
}

/** The object key of a path-style request path, or null. */
function objectKey(rawPath, bucket) {
    const p = `/${bucket}/`;
    try {
        return rawPath.startsWith(p) ? decodeURIComponent(rawPath.slice(p.length)) : null;
    } catch {
        return null;
    }
}

/**
 * The front: every request is verified (SigV4 for S3, x-amz-content-sha256, Content-MD5) and
 * proxied to s3rver. `mode` decides per request: 'ok', 'refuse' (alternating 503 SlowDown and
 * a dropped connection). `refuseKeys` (Set or predicate) denies PUTs of some keys with 403
 * AccessDenied. `tls` makes it an HTTPS server. Records every PUT.
 */
export async function startFront(s3, { accessKeyId, secret, region, bucket, refuseKeys = null, tls = null }) {
    const front = { mode: 'ok', puts: [], refused: [], denied: [], signatures: [], refuseKeys };
    const isRefused = (key) => {
        const r = front.refuseKeys;
        if (!r || key === null) return false;
        return typeof r === 'function' ? !!r(key) : r.has(key);
    };
    const handler = (req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', async () => {
            const body = Buffer.concat(chunks);
            const raw = req.url.split('?')[0];
            const rec = { method: req.method, path: raw, at: Date.now(), status: 0, headers: req.headers };
            if (req.method === 'PUT') front.puts.push(rec);
            const sm = /Signature=([0-9a-f]{64})/.exec(req.headers.authorization || '');
            if (sm) front.signatures.push(sm[1]);
            if (front.mode === 'hang') return; // never answers
            if (front.mode === 'refuse') {
                front.refused.push(rec);
                if (front.refused.length % 2 === 1) {
                    rec.status = 503;
                    return s3Error(res, 503, 'SlowDown', 'Please reduce your request rate.');
                }
                rec.status = -1;
                return req.socket.destroy();
            }
            const bad = await verifyS3SigV4(req, raw, body, { accessKeyId, secret, region });
            if (bad) {
                rec.status = 403;
                return s3Error(res, 403, bad[0], bad[1]);
            }
            if (req.method === 'PUT' && isRefused(objectKey(raw, bucket))) {
                rec.status = 403;
                front.denied.push(rec);
                return s3Error(res, 403, 'AccessDenied', 'Access Denied');
            }
            const md5 = crypto.createHash('md5').update(body).digest('base64');
            if (req.headers['content-md5'] !== md5) {
                rec.status = 400;
                return s3Error(res, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
            }
            const headers = { ...req.headers, host: `127.0.0.1:${s3.port}` };
            delete headers.authorization;
            const up = http.request({ host: '127.0.0.1', port: s3.port, method: req.method, path: req.url, headers }, (ures) => {
                rec.status = ures.statusCode;
                res.writeHead(ures.statusCode, ures.headers);
                ures.pipe(res);
            });
            up.on('error', () => s3Error(res, 502, 'BadGateway', 'proxy error'));
            up.end(body);
        });
    };
    const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    front.server = server;
    front.url = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}`;
    front.putsFor = (key) => front.puts.filter((p) => decodeURIComponent(p.path) === `/${bucket}/${key}` && p.status === 200).length;
    return front;
}
