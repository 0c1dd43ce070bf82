#!/usr/bin/env node
// sts-token.mjs - makes an aws-iam-authenticator style identity token: a presigned
// sts:GetCallerIdentity GET (X-Amz-Expires=60, signed headers host and x-k8s-aws-id when a
// cluster id is given) as "k8s-aws-v1." + base64url(URL), or the raw URL with --raw.
//
// Usage: node sts-token.mjs [--endpoint URL] [--region R] [--cluster-id ID]
//          [--access-key-id ID] [--secret-access-key KEY] [--session-token T]
//          [--expires S] [--date YYYYMMDDTHHMMSSZ] [--raw]
// Defaults: region us-east-1; endpoint https://sts.REGION.amazonaws.com; the simulator's
// AKIDEXAMPLEAPP000001 key (sts-sim.mjs), or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN when set. Prints the token on stdout.

import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { STS_KEYS } from './sts-sim.mjs';

/** Resolves to the token (or the presigned URL with raw: true). */
export async function makeStsToken({
    endpoint,
    region = 'us-east-1',
    clusterId,
    accessKeyId = 'AKIDEXAMPLEAPP000001',
    secretAccessKey = STS_KEYS.AKIDEXAMPLEAPP000001.secret,
    sessionToken,
    expires = 60,
    signingDate = new Date(),
    raw = false,
} = {}) {
    const u = new URL(endpoint || `https://sts.${region}.amazonaws.com/`);
    const headers = { host: u.host };
    if (clusterId) headers['x-k8s-aws-id'] = clusterId;
    const req = new HttpRequest({
        method: 'GET',
        protocol: u.protocol,
        hostname: u.hostname,
        port: u.port ? Number(u.port) : undefined,
        path: '/',
        query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
        headers,
    });
    const signer = new SignatureV4({
        credentials: { accessKeyId, secretAccessKey, sessionToken },
        region,
        service: 'sts',
        sha256: Sha256,
    });
    const signed = await signer.presign(req, { expiresIn: expires, signingDate });
    const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
    const qs = Object.entries(signed.query).map(([k, v]) => `${enc(k)}=${enc(String(v))}`).join('&');
    const url = `${u.protocol}//${u.host}/?${qs}`;
    return raw ? url : 'k8s-aws-v1.' + Buffer.from(url).toString('base64url');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    const o = {
        accessKeyId: process.env.AWS_ACCESS_KEY_ID || undefined,
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || undefined,
        sessionToken: process.env.AWS_SESSION_TOKEN || undefined,
    };
    const argv = process.argv.slice(2);
    const names = {
        '--endpoint': 'endpoint', '--region': 'region', '--cluster-id': 'clusterId',
        '--access-key-id': 'accessKeyId', '--secret-access-key': 'secretAccessKey',
        '--session-token': 'sessionToken', '--expires': 'expires', '--date': 'date',
    };
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--raw') o.raw = true;
        else if (names[argv[i]] && i + 1 < argv.length) o[names[argv[i]]] = argv[++i];
        else {
            process.stderr.write('usage: node sts-token.mjs [--endpoint URL] [--region R] [--cluster-id ID] ' +
                '[--access-key-id ID] [--secret-access-key KEY] [--session-token T] [--expires S] [--date YYYYMMDDTHHMMSSZ] [--raw]\n');
            process.exit(2);
        }
    }
    if (o.expires !== undefined) o.expires = Number(o.expires);
    if (o.date) {
        const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(o.date);
        if (!m) { process.stderr.write('sts-token: --date is YYYYMMDDTHHMMSSZ\n'); process.exit(2); }
        o.signingDate = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
        delete o.date;
    }
    for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
    process.stdout.write((await makeStsToken(o)) + '\n');
}
