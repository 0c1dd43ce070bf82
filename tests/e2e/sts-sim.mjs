#!/usr/bin/env node
// sts-sim.mjs - a local AWS STS simulator for weir's identity tests (GetCallerIdentity only).
//
// Plain HTTP/1.1 on 127.0.0.1, port picked by the OS; on start it prints one JSON line on
// stdout: {"port":PORT,"region":"us-east-1"}.
//
// GET /?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-...  (a presigned URL, as weir
// forwards an aws-iam-authenticator token): the presigned signature is verified by presigning
// the same request again with @smithy/signature-v4 (same X-Amz-Date, X-Amz-Expires, signed
// headers and values as received, the secret of the access key from the table below) and
// comparing the signatures. Answers like STS:
//   200  GetCallerIdentityResponse XML (JSON when Accept: application/json) with the key's ARN
//   403  SignatureDoesNotMatch   signature differs (wrong secret, another x-k8s-aws-id, ...)
//   403  InvalidClientTokenId    unknown access key id
//   403  ExpiredToken            now > X-Amz-Date + X-Amz-Expires (or the date is > 15 min old)
//   400  MissingAuthenticationToken / InvalidAction / MalformedQueryString  otherwise
//
// GET /?Action=GetCallerIdentity&Version=2011-06-15 with an `Authorization: AWS4-HMAC-SHA256
// Credential=AKID/DATE/REGION/sts/aws4_request, SignedHeaders=..., Signature=...` header and
// X-Amz-Date (a header-signed call, as a service makes with its own credentials, e.g. weir's
// `identity: {source: workload}` at start-up): verified by signing the same request again
// (method, path, query, the signed headers as received, the empty body) for service sts and
// the credential scope's region at the request's X-Amz-Date, and comparing the Authorization
// headers. The same answers as above (ExpiredToken when X-Amz-Date is more than 15 minutes
// away from now). The key table includes the e2e harness's sidecar key (SIDECAR_ENV in
// harness.mjs), whose ARN is the sidecar's workload role.
// Control: GET /__sim/count (calls so far), GET /__sim/last (last call's headers and query).
//
// Usage: node sts-sim.mjs [--region us-east-1] [--quiet]
// The access keys below are test values, not secrets; sts-token.mjs uses them by default.

import http from 'node:http';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SIM_DEFAULTS } from './sim.mjs';

export const STS_KEYS = Object.freeze({
    AKIDEXAMPLEAPP000001: {
        secret: 'weir-sts-sim-app-secret-access-key-00001',
        arn: 'arn:aws:sts::111122223333:assumed-role/llm-app/session-1',
        userId: 'AROAEXAMPLEAPPROLE0001:session-1',
    },
    AKIDEXAMPLEBOB000001: {
        secret: 'weir-sts-sim-bob-secret-access-key-00001',
        arn: 'arn:aws:sts::111122223333:assumed-role/llm-intern-bob/s2',
        userId: 'AROAEXAMPLEBOBROLE0001:s2',
    },
    // The key the e2e harness gives `weir serve` (SIDECAR_ENV): the sidecar's workload role.
    [SIM_DEFAULTS.accessKeyId]: {
        secret: SIM_DEFAULTS.secretAccessKey,
        arn: 'arn:aws:sts::111122223333:assumed-role/llm-sidecar/pod-1',
        userId: 'AROAEXAMPLESIDECAR0001:pod-1',
    },
});

const MAX_AGE_S = 15 * 60; // STS: a presigned GetCallerIdentity lives at most 15 minutes

function xmlEscape(s) {
    return String(s).replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function reply(res, status, body, type) {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
}

function stsError(res, json, status, code, message) {
    const requestId = crypto.randomUUID();
    if (json)
        return reply(res, status, JSON.stringify({ Error: { Code: code, Message: message, Type: 'Sender' }, RequestId: requestId }), 'application/json');
    reply(
        res,
        status,
        `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <Error>\n    <Type>Sender</Type>\n` +
            `    <Code>${xmlEscape(code)}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n` +
            `  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`,
        'text/xml',
    );
}

function stsOk(res, json, key) {
    const account = key.arn.split(':')[4];
    const requestId = crypto.randomUUID();
    if (json)
        return reply(
            res,
            200,
            JSON.stringify({
                GetCallerIdentityResponse: {
                    GetCallerIdentityResult: { Account: account, Arn: key.arn, UserId: key.userId },
                    ResponseMetadata: { RequestId: requestId },
                },
            }),
            'application/json',
        );
    reply(
        res,
        200,
        `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n` +
            `  <GetCallerIdentityResult>\n    <Arn>${xmlEscape(key.arn)}</Arn>\n` +
            `    <UserId>${xmlEscape(key.userId)}</UserId>\n    <Account>${account}</Account>\n` +
            `  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>${requestId}</RequestId>\n` +
            `  </ResponseMetadata>\n</GetCallerIdentityResponse>\n`,
        'text/xml',
    );
}

/** "20250102T030405Z" -> Date, or null. */
function parseAmzDate(s) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
    if (!m) return null;
    const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
    return Number.isNaN(d.getTime()) ? null : d;
}

const AUTH_RE =
    /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;._-]+), ?Signature=([0-9a-f]{64})$/;

/** Checks one header-signed GetCallerIdentity request (Authorization: AWS4-HMAC-SHA256); answers it. */
async function handleHeaderSigned(req, res, url, state) {
    const json = /application\/json/i.test(req.headers.accept || '');
    const auth = String(req.headers.authorization || '');
    const m = AUTH_RE.exec(auth);
    const date = parseAmzDate(req.headers['x-amz-date']);
    if (!m || !date)
        return stsError(res, json, 400, 'IncompleteSignature',
            'Authorization header requires Credential, SignedHeaders and Signature, and X-Amz-Date must be set.');
    const [, akid, scopeDate, credRegion, service, signedList] = m;
    const key = STS_KEYS[akid];
    if (!key) return stsError(res, json, 403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    if (service !== 'sts')
        return stsError(res, json, 403, 'SignatureDoesNotMatch', 'Credential should be scoped to correct service: sts.');
    if (req.headers['x-amz-date'].slice(0, 8) !== scopeDate)
        return stsError(res, json, 403, 'SignatureDoesNotMatch', 'Date in Credential scope does not match YYYYMMDD from X-Amz-Date.');
    if (Math.abs(Date.now() - date.getTime()) > MAX_AGE_S * 1000)
        return stsError(res, json, 403, 'ExpiredToken', 'Signature expired: X-Amz-Date is more than 15 minutes away from now.');
    const signedHeaders = signedList.split(';');
    if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date'))
        return stsError(res, json, 403, 'SignatureDoesNotMatch', 'SignedHeaders must include host and x-amz-date.');
    const headers = {};
    for (const h of signedHeaders) {
        const v = req.headers[h];
        if (v === undefined) return stsError(res, json, 403, 'SignatureDoesNotMatch', `signed header ${h} missing`);
        headers[h] = Array.isArray(v) ? v.join(',') : String(v);
    }
    const toSign = new HttpRequest({
        method: req.method,
        protocol: 'http:',
        hostname: String(req.headers.host || '').replace(/:\d+$/, ''),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
    });
    const signer = new SignatureV4({
        credentials: { accessKeyId: akid, secretAccessKey: key.secret, sessionToken: req.headers['x-amz-security-token'] },
        region: credRegion,
        service: 'sts',
        sha256: Sha256,
        applyChecksum: false,
        uriEscapePath: true,
    });
    const signed = await signer.sign(toSign, { signingDate: date, signableHeaders: new Set(signedHeaders) });
    const want = Buffer.from(String(signed.headers.authorization || ''));
    const got = Buffer.from(auth.replace(/, ?/g, ', '));
    state.lastSigned = signedList;
    if (want.length !== got.length || !crypto.timingSafeEqual(want, got))
        return stsError(res, json, 403, 'SignatureDoesNotMatch',
            'The request signature we calculated does not match the signature you provided.');
    state.ok++;
    state.headerSigned++;
    stsOk(res, json, key);
}

/** Checks one GetCallerIdentity request (presigned, or header-signed); answers it. */
async function handleCall(req, res, url, state, region) {
    const json = /application\/json/i.test(req.headers.accept || '');
    const q = url.searchParams;
    for (const k of new Set(q.keys()))
        if (q.getAll(k).length > 1) return stsError(res, json, 400, 'MalformedQueryString', `${k} repeated`);
    if (q.get('Action') !== 'GetCallerIdentity')
        return stsError(res, json, 400, 'InvalidAction', 'only GetCallerIdentity is simulated');
    if (q.get('Version') !== '2011-06-15') return stsError(res, json, 400, 'InvalidParameterValue', 'Version');
    if (req.headers.authorization && !q.has('X-Amz-Signature')) return handleHeaderSigned(req, res, url, state);
    const sig = q.get('X-Amz-Signature');
    const cred = (q.get('X-Amz-Credential') || '').split('/');
    const signedHeaders = (q.get('X-Amz-SignedHeaders') || '').split(';').filter(Boolean);
    const date = parseAmzDate(q.get('X-Amz-Date'));
    const expires = Number(q.get('X-Amz-Expires'));
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' || !sig || cred.length !== 5 || !date ||
        !Number.isInteger(expires) || !signedHeaders.includes('host'))
        return stsError(res, json, 400, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
    const [akid, , credRegion, service] = cred;
    const key = STS_KEYS[akid];
    if (!key) return stsError(res, json, 403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    const now = Date.now();
    if (now > date.getTime() + expires * 1000 || now > date.getTime() + MAX_AGE_S * 1000)
        return stsError(res, json, 403, 'ExpiredToken', 'The security token included in the request is expired');
    if (credRegion !== region || service !== 'sts')
        return stsError(res, json, 403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid region (${region}) and service sts.`);

    // The request as the client presigned it: method, path, Action/Version, signed headers as received.
    const headers = {};
    for (const h of signedHeaders) {
        const v = req.headers[h];
        if (v === undefined) return stsError(res, json, 403, 'SignatureDoesNotMatch', `signed header ${h} missing`);
        headers[h] = Array.isArray(v) ? v.join(',') : v;
    }
    const query = {};
    for (const [k, v] of q) if (k !== 'X-Amz-Signature' && !/^X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders)$/.test(k)) query[k] = v;
    const toSign = new HttpRequest({ method: req.method, protocol: 'http:', hostname: '127.0.0.1', path: '/', query, headers });
    const sessionToken = q.get('X-Amz-Security-Token') || undefined;
    delete query['X-Amz-Security-Token'];
    const signer = new SignatureV4({
        credentials: { accessKeyId: akid, secretAccessKey: key.secret, sessionToken },
        region,
        service: 'sts',
        sha256: Sha256,
        uriEscapePath: true,
    });
    const presigned = await signer.presign(toSign, { signingDate: date, expiresIn: expires });
    const want = Buffer.from(String(presigned.query['X-Amz-Signature'] || ''));
    const got = Buffer.from(sig);
    state.lastSigned = presigned.query['X-Amz-SignedHeaders'];
    if (want.length !== got.length || !crypto.timingSafeEqual(want, got))
        return stsError(res, json, 403, 'SignatureDoesNotMatch',
            'The request signature we calculated does not match the signature you provided.');
    state.ok++;
    stsOk(res, json, key);
}

/** Starts the simulator; resolves to { port, region, close() }. */
export async function startStsSimulator({ region = 'us-east-1', quiet = true } = {}) {
    const state = { count: 0, ok: 0, headerSigned: 0, last: null, lastSigned: null };
    const server = http.createServer((req, res) => {
        const url = new URL(req.url, 'http://127.0.0.1');
        if (url.pathname === '/__sim/count') return reply(res, 200, JSON.stringify({ count: state.count, ok: state.ok, headerSigned: state.headerSigned }), 'application/json');
        if (url.pathname === '/__sim/last') return reply(res, 200, JSON.stringify(state.last), 'application/json');
        state.count++;
        state.last = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers };
        if (!quiet) process.stderr.write(`sts-sim: ${req.method} ${url.pathname} ${url.searchParams.get('Action')}\n`);
        const json = /application\/json/i.test(req.headers.accept || '');
        if (req.method !== 'GET' || url.pathname !== '/')
            return stsError(res, json, 400, 'InvalidAction', 'the simulator takes GET / with a presigned query or a signed Authorization header');
        handleCall(req, res, url, state, region).catch((e) => stsError(res, json, 500, 'InternalFailure', e.message));
    });
    const port = await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
    return {
        port,
        region,
        state,
        close: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections?.(); }),
    };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    const o = { region: 'us-east-1', quiet: true };
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--region' && i + 1 < argv.length) o.region = argv[++i];
        else if (argv[i] === '--quiet') o.quiet = true;
        else if (argv[i] === '--verbose') o.quiet = false;
        else {
            process.stderr.write('usage: node sts-sim.mjs [--region us-east-1] [--verbose]\n');
            process.exit(2);
        }
    }
    const sim = await startStsSimulator(o);
    process.stdout.write(JSON.stringify({ port: sim.port, region: sim.region }) + '\n');
    const stop = () => sim.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}
