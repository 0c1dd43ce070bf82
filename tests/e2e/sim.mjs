#!/usr/bin/env node
// sim.mjs - a local upstream simulator for weir's sidecar end-to-end tests.
//
// One process serves a Bedrock-Runtime-like upstream (one port per simulated region) and an
// Azure-OpenAI-like upstream, HTTP/1.1 on 127.0.0.1, ports picked by the OS. On start it
// prints one JSON line on stdout:
//   {"bedrock":PORT,"azure":PORT,"bedrockPorts":{"eu-central-1":PORT,...}}
// ("bedrock" is the port of the first region).
//
// Bedrock side: every request must carry a valid SigV4 signature (service "bedrock", the
// port's region, the known test credentials); it is checked by re-signing the received
// request with @smithy/signature-v4 at the request's own x-amz-date and comparing the
// Authorization headers. Azure side: the `api-key` header must be the known key and no
// Authorization header may arrive.
//
// The "model" is scripted by the last user message (see script() below). Control endpoints
// on every port: GET /__sim/last, GET /__sim/count, GET /__sim/requests, POST /__sim/reset.
//
// Usage: node sim.mjs [--regions eu-central-1,us-east-1] [--access-key-id ID]
//                     [--secret-access-key KEY] [--azure-key KEY] [--quiet]
// Environment defaults: SIM_AWS_ACCESS_KEY_ID, SIM_AWS_SECRET_ACCESS_KEY, SIM_AZURE_KEY.

import http from 'node:http';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { toUtf8, fromUtf8 } from '@smithy/util-utf8';
import { Sha256 } from '@aws-crypto/sha256-js';

/** Test credentials the simulator accepts (and the runner hands to weir). Not secrets. */
export const SIM_DEFAULTS = Object.freeze({
    accessKeyId: 'AKIDWEIRE2ESIMULATOR',
    secretAccessKey: 'weir-e2e-simulator-secret-access-key-0001',
    azureKey: 'weir-e2e-simulator-azure-api-key-0001',
    regions: ['eu-central-1'],
});

const MAX_BODY = 30 * 1000 * 1000;
const MAX_SKEW_MS = 15 * 60 * 1000;
const STREAM_GAP_MS = 15;
const SLOW_MS = 3000;
const codec = new EventStreamCodec(toUtf8, fromUtf8);

// ------------------------------------------------------------------------------- the model

/**
 * What the "model" does with a prompt (the last user message text):
 *   FAIL 500 / FAIL 429  -> provider error (no stream)
 *   ECHO                 -> reply is exactly the prompt text
 *   LEAK EMAIL           -> reply leaks an e-mail address, split across deltas
 *   LEAK CARD            -> reply leaks a card number, split across deltas
 *   otherwise            -> "Hello from the simulator."
 * RESET (with any of the above) drops the connection after the first delta; SLOW waits 3 s
 * before answering.
 */
export function script(prompt) {
    const text = typeof prompt === 'string' ? prompt : '';
    const out = { slow: text.includes('SLOW'), reset: text.includes('RESET') };
    if (text.includes('FAIL 500')) return { ...out, fail: 500 };
    if (text.includes('FAIL 429')) return { ...out, fail: 429 };
    let deltas;
    if (text.includes('ECHO')) deltas = splitInto(text, 3);
    else if (text.includes('LEAK EMAIL'))
        deltas = ['Sure: ', 'contact jane.d', 'oe@exam', 'ple.com for details', '.'];
    else if (text.includes('LEAK CARD'))
        deltas = ['The card on file is ', '4111 11', '11 1111 ', '1111', ', keep it safe.'];
    else deltas = ['Hello', ' from the', ' simulator.'];
    return { ...out, deltas, text: deltas.join('') };
}

function splitInto(text, n) {
    const cps = Array.from(text);
    if (cps.length < n) return [text];
    const size = Math.ceil(cps.length / n);
    const parts = [];
    for (let i = 0; i < cps.length; i += size) parts.push(cps.slice(i, i + size).join(''));
    return parts;
}

const words = (s) => Math.max(1, String(s).split(/\s+/).filter(Boolean).length);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rid = () => crypto.randomUUID();
const hex = (n) => crypto.randomBytes(n).toString('hex');
const pad = () => 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ'.slice(0, 1 + crypto.randomInt(30));

// --------------------------------------------------------------------- prompt extraction

function partsText(content) {
    if (typeof content === 'string') return content;
    if (!Array.isArray(content)) return '';
    return content
        .map((p) => {
            if (typeof p === 'string') return p;
            if (!p || typeof p !== 'object') return '';
            if (typeof p.text === 'string') return p.text; // anthropic/openai/converse/responses
            if (p.text && typeof p.text.text === 'string') return p.text.text;
            if (p.guardContent?.text?.text) return p.guardContent.text.text;
            return '';
        })
        .join('');
}

function lastUser(messages) {
    if (!Array.isArray(messages)) return '';
    for (let i = messages.length - 1; i >= 0; i--) {
        const m = messages[i];
        if (m && m.role === 'user') return partsText(m.content);
    }
    return '';
}

/** The prompt text of a Bedrock InvokeModel body, by model family. */
function invokePrompt(family, body) {
    if (family === 'titan') return String(body.inputText ?? '');
    if (family === 'llama') return String(body.prompt ?? '');
    return lastUser(body.messages); // anthropic, nova, openai
}

function responsesPrompt(body) {
    if (typeof body.input === 'string') return body.input;
    if (!Array.isArray(body.input)) return '';
    for (let i = body.input.length - 1; i >= 0; i--) {
        const it = body.input[i];
        if (it && (it.role === 'user' || (it.type === 'message' && it.role === 'user')))
            return partsText(it.content);
    }
    return '';
}

/** Model family from a Bedrock model id (percent-decoded; CRIS prefix and ARN stripped). */
export function modelFamily(modelId) {
    let id = modelId;
    const slash = id.lastIndexOf('/');
    if (id.startsWith('arn:') && slash >= 0) id = id.slice(slash + 1);
    id = id.replace(/^(us|eu|apac|jp|au|ca|us-gov|global)\./, '');
    if (id.startsWith('amazon.nova')) return 'nova';
    if (id.startsWith('amazon.titan')) return 'titan';
    if (id.startsWith('meta.')) return 'llama';
    if (id.startsWith('openai.')) return 'openai';
    return 'anthropic';
}

// ----------------------------------------------------------------------- HTTP plumbing

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let n = 0;
        req.on('data', (c) => {
            n += c.length;
            if (n > MAX_BODY) {
                reject(new Error('body too large'));
                req.destroy();
                return;
            }
            chunks.push(c);
        });
        req.on('end', () => resolve(Buffer.concat(chunks)));
        req.on('error', reject);
    });
}

function sendJson(res, status, obj, headers = {}) {
    const body = Buffer.from(JSON.stringify(obj));
    res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': body.length,
        ...headers,
    });
    res.end(body);
}

class Side {
    constructor(kind, region) {
        this.kind = kind;
        this.region = region;
        this.count = 0;
        this.last = null;
        this.history = [];
    }
    record(req, target, body) {
        this.count++;
        this.last = {
            n: this.count,
            method: req.method,
            path: target,
            httpVersion: req.httpVersion,
            headers: { ...req.headers },
            body: body.toString('utf8'),
            auth: 'unchecked',
        };
        this.history.push(this.last);
        if (this.history.length > 500) this.history.shift();
        return this.last;
    }
}

function control(side, req, res, url) {
    if (req.method === 'GET' && url.pathname === '/__sim/last') return sendJson(res, 200, side.last);
    if (req.method === 'GET' && url.pathname === '/__sim/count')
        return sendJson(res, 200, { count: side.count });
    if (req.method === 'GET' && url.pathname === '/__sim/requests')
        return sendJson(res, 200, side.history);
    if (req.method === 'POST' && url.pathname === '/__sim/reset') {
        side.count = 0;
        side.last = null;
        side.history = [];
        return sendJson(res, 200, { count: 0 });
    }
    return sendJson(res, 404, { message: 'unknown control endpoint' });
}

/** Writes one piece, then waits a little so pieces arrive as separate TCP segments. */
async function writePiece(res, buf) {
    if (res.destroyed) throw new Error('client went away');
    res.write(buf);
    await sleep(STREAM_GAP_MS);
}

function resetNow(req, res) {
    // Drop the connection without finishing the response (no terminating chunk).
    res.socket?.destroy();
    req.socket?.destroy();
}

// =============================================================================== Bedrock

function bedrockError(res, status, type, message, extra = {}) {
    sendJson(res, status, { message, ...extra }, {
        'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
        'x-amzn-requestid': rid(),
    });
}

function parseAmzDate(s) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
    if (!m) return null;
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

function parseQuery(search) {
    const q = {};
    if (!search || search === '?') return q;
    for (const part of search.replace(/^\?/, '').split('&')) {
        if (!part) continue;
        const eq = part.indexOf('=');
        const k = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, '%20'));
        const v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, '%20'));
        if (k in q) q[k] = [].concat(q[k], v);
        else q[k] = v;
    }
    return q;
}

/**
 * Verifies the SigV4 signature of a received request. Returns null when valid, else
 * {status, type, message}.
 */
export async function verifySigV4(req, rawTarget, body, creds, region) {
    const auth = req.headers.authorization;
    if (!auth)
        return { status: 403, type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' };
    const m =
        /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;._-]+), ?Signature=([0-9a-f]{64})$/.exec(
            auth,
        );
    if (!m)
        return {
            status: 403,
            type: 'IncompleteSignatureException',
            message: `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${auth.split(' ')[0]}`,
        };
    const [, akid, scopeDate, scopeRegion, scopeService, signedHeaders] = m;
    if (akid !== creds.accessKeyId)
        return { status: 403, type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
    if (scopeService !== 'bedrock')
        return { status: 403, type: 'InvalidSignatureException', message: `Credential should be scoped to correct service: 'bedrock'. ` };
    if (scopeRegion !== region)
        return {
            status: 403,
            type: 'InvalidSignatureException',
            message: `Credential should be scoped to a valid region, not '${scopeRegion}'. (this upstream is ${region})`,
        };
    const names = signedHeaders.split(';');
    if (!names.includes('host') || !names.includes('x-amz-date'))
        return { status: 403, type: 'InvalidSignatureException', message: 'SignedHeaders must include host and x-amz-date.' };
    const amzDate = req.headers['x-amz-date'];
    const when = parseAmzDate(amzDate);
    if (!when || amzDate.slice(0, 8) !== scopeDate)
        return { status: 403, type: 'IncompleteSignatureException', message: 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: ' + amzDate };
    if (Math.abs(Date.now() - when.getTime()) > MAX_SKEW_MS)
        return { status: 403, type: 'InvalidSignatureException', message: `Signature expired: ${amzDate} is now earlier/later than the allowed 15 minutes.` };
    const declared = req.headers['x-amz-content-sha256'];
    if (declared && declared !== 'UNSIGNED-PAYLOAD') {
        const actual = crypto.createHash('sha256').update(body).digest('hex');
        if (declared !== actual)
            return { status: 403, type: 'InvalidSignatureException', message: "The provided 'x-amz-content-sha256' header does not match what was computed." };
    }
    const headers = {};
    for (const n of names) {
        const v = req.headers[n];
        if (v === undefined)
            return { status: 403, type: 'InvalidSignatureException', message: `Signed header '${n}' is missing from the request.` };
        headers[n] = Array.isArray(v) ? v.join(',') : String(v);
    }
    const q = rawTarget.indexOf('?');
    const request = new HttpRequest({
        method: req.method,
        protocol: 'http:',
        hostname: String(req.headers.host || '').replace(/:\d+$/, ''),
        path: q < 0 ? rawTarget : rawTarget.slice(0, q),
        query: parseQuery(q < 0 ? '' : rawTarget.slice(q)),
        headers,
        body: new Uint8Array(body),
    });
    const signer = new SignatureV4({
        credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken },
        region,
        service: 'bedrock',
        sha256: Sha256,
        applyChecksum: false,
    });
    const signed = await signer.sign(request, { signingDate: when, signableHeaders: new Set(names) });
    const expect = signed.headers.authorization;
    const a = Buffer.from(expect);
    const b = Buffer.from(auth.replace(/, ?/g, ', '));
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b))
        return {
            status: 403,
            type: 'InvalidSignatureException',
            message:
                'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
        };
    return null;
}

function eventMessage(eventType, payload) {
    return codec.encode({
        headers: {
            ':event-type': { type: 'string', value: eventType },
            ':content-type': { type: 'string', value: 'application/json' },
            ':message-type': { type: 'string', value: 'event' },
        },
        body: fromUtf8(JSON.stringify(payload)),
    });
}

const chunkEvent = (obj) =>
    eventMessage('chunk', { bytes: Buffer.from(JSON.stringify(obj)).toString('base64') });

function invokeResponse(family, modelId, s, inTok) {
    const outTok = words(s.text);
    switch (family) {
        case 'nova':
            return {
                output: { message: { role: 'assistant', content: [{ text: s.text }] } },
                stopReason: 'end_turn',
                usage: { inputTokens: inTok, outputTokens: outTok, totalTokens: inTok + outTok },
            };
        case 'titan':
            return {
                inputTextTokenCount: inTok,
                results: [{ tokenCount: outTok, outputText: s.text, completionReason: 'FINISH' }],
            };
        case 'llama':
            return { generation: s.text, prompt_token_count: inTok, generation_token_count: outTok, stop_reason: 'stop' };
        case 'openai':
            return chatCompletion(modelId, s, inTok);
        default:
            return {
                id: 'msg_bdrk_' + hex(12),
                type: 'message',
                role: 'assistant',
                model: 'claude-3-haiku-20240307',
                content: [{ type: 'text', text: s.text }],
                stop_reason: 'end_turn',
                stop_sequence: null,
                usage: { input_tokens: inTok, output_tokens: outTok },
            };
    }
}

/** Model-native stream chunks (decoded `bytes` of each `chunk` event) for a family. */
function invokeStreamChunks(family, s, inTok) {
    const outTok = words(s.text);
    const metrics = {
        'amazon-bedrock-invocationMetrics': {
            inputTokenCount: inTok,
            outputTokenCount: outTok,
            invocationLatency: 42,
            firstByteLatency: 21,
        },
    };
    if (family === 'titan')
        return s.deltas.map((d, i) => ({
            outputText: d,
            index: 0,
            totalOutputTextTokenCount: i === s.deltas.length - 1 ? outTok : null,
            completionReason: i === s.deltas.length - 1 ? 'FINISH' : null,
            inputTextTokenCount: i === 0 ? inTok : undefined,
            ...(i === s.deltas.length - 1 ? metrics : {}),
        }));
    if (family === 'llama')
        return s.deltas.map((d, i) => ({
            generation: d,
            prompt_token_count: i === 0 ? inTok : null,
            generation_token_count: i + 1,
            stop_reason: i === s.deltas.length - 1 ? 'stop' : null,
            ...(i === s.deltas.length - 1 ? metrics : {}),
        }));
    if (family === 'nova')
        return [
            { messageStart: { role: 'assistant' } },
            ...s.deltas.map((d) => ({ contentBlockDelta: { delta: { text: d }, contentBlockIndex: 0 } })),
            { contentBlockStop: { contentBlockIndex: 0 } },
            { messageStop: { stopReason: 'end_turn' } },
            { metadata: { usage: { inputTokens: inTok, outputTokens: outTok }, metrics: {}, trace: {} }, ...metrics },
        ];
    return [
        {
            type: 'message_start',
            message: {
                id: 'msg_bdrk_' + hex(12),
                type: 'message',
                role: 'assistant',
                model: 'claude-3-haiku-20240307',
                content: [],
                stop_reason: null,
                stop_sequence: null,
                usage: { input_tokens: inTok, output_tokens: 1 },
            },
        },
        { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        ...s.deltas.map((d) => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: d } })),
        { type: 'content_block_stop', index: 0 },
        { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: outTok } },
        { type: 'message_stop', ...metrics },
    ];
}

/** Index of the first chunk carrying text (RESET drops the connection right after it). */
function firstTextIndex(family, chunks) {
    const i = chunks.findIndex((c) =>
        family === 'anthropic' ? c.type === 'content_block_delta' : family === 'nova' ? !!c.contentBlockDelta : true,
    );
    return i < 0 ? 0 : i;
}

async function bedrockHandle(side, creds, req, res, target, url, body) {
    const rec = side.record(req, target, body);
    const bad = await verifySigV4(req, target, body, creds, side.region);
    if (bad) {
        rec.auth = `${bad.type}: ${bad.message}`;
        return bedrockError(res, bad.status, bad.type, bad.message);
    }
    rec.auth = 'valid';
    if (req.method !== 'POST') return bedrockError(res, 404, 'UnknownOperationException', 'Unknown operation');

    let json;
    try {
        json = JSON.parse(body.toString('utf8'));
    } catch {
        return bedrockError(res, 400, 'ValidationException', 'Malformed input request, please reformat your input and try again.');
    }
    const requestId = rid();

    if (url.pathname === '/openai/v1/chat/completions') {
        return chatHandle(res, json, json.model || 'openai.gpt-oss-20b-1:0', requestId, {
            'x-amzn-requestid': requestId,
        }, 'bedrock');
    }

    const m = /^\/model\/([^/]+)\/(invoke|invoke-with-response-stream|converse|converse-stream)$/.exec(url.pathname);
    if (!m) return bedrockError(res, 404, 'UnknownOperationException', 'Unknown operation');
    let modelId;
    try {
        modelId = decodeURIComponent(m[1]);
    } catch {
        return bedrockError(res, 400, 'ValidationException', 'Malformed model identifier');
    }
    const op = m[2];
    const converse = op.startsWith('converse');
    const family = modelFamily(modelId);
    const prompt = converse ? lastUser(json.messages) : invokePrompt(family, json);
    if (converse && !Array.isArray(json.messages))
        return bedrockError(res, 400, 'ValidationException', 'The model returned the following errors: messages: required');
    const s = script(prompt);
    const inTok = words(prompt);
    if (s.slow) await sleep(SLOW_MS);
    if (s.fail === 500)
        return bedrockError(res, 500, 'InternalServerException', 'The simulator was told to fail (FAIL 500).');
    if (s.fail === 429)
        return bedrockError(res, 429, 'ThrottlingException', 'Too many requests, please wait before trying again.');

    const baseHeaders = { 'x-amzn-requestid': requestId };
    if (op === 'invoke' || op === 'converse') {
        const out =
            op === 'converse'
                ? {
                      output: { message: { role: 'assistant', content: [{ text: s.text }] } },
                      stopReason: 'end_turn',
                      usage: { inputTokens: inTok, outputTokens: words(s.text), totalTokens: inTok + words(s.text) },
                      metrics: { latencyMs: 42 },
                  }
                : invokeResponse(family, modelId, s, inTok);
        const buf = Buffer.from(JSON.stringify(out));
        const h = {
            ...baseHeaders,
            'content-type': 'application/json',
            'content-length': buf.length,
        };
        if (op === 'invoke') {
            h['x-amzn-bedrock-input-token-count'] = String(inTok);
            h['x-amzn-bedrock-output-token-count'] = String(words(s.text));
            h['x-amzn-bedrock-invocation-latency'] = '42';
        }
        res.writeHead(200, h);
        if (s.reset) {
            res.write(buf.subarray(0, buf.length >> 1));
            await sleep(STREAM_GAP_MS);
            return resetNow(req, res);
        }
        return res.end(buf);
    }

    res.writeHead(200, {
        ...baseHeaders,
        'content-type': 'application/vnd.amazon.eventstream',
        'x-amzn-bedrock-content-type': 'application/json',
    });
    try {
        if (op === 'invoke-with-response-stream') {
            const chunks = invokeStreamChunks(family, s, inTok);
            const cut = firstTextIndex(family, chunks);
            for (let i = 0; i < chunks.length; i++) {
                await writePiece(res, chunkEvent(chunks[i]));
                if (s.reset && i === cut) return resetNow(req, res);
            }
        } else {
            await writePiece(res, eventMessage('messageStart', { role: 'assistant', p: pad() }));
            for (let i = 0; i < s.deltas.length; i++) {
                await writePiece(
                    res,
                    eventMessage('contentBlockDelta', { contentBlockIndex: 0, delta: { text: s.deltas[i] }, p: pad() }),
                );
                if (s.reset) return resetNow(req, res);
            }
            await writePiece(res, eventMessage('contentBlockStop', { contentBlockIndex: 0, p: pad() }));
            await writePiece(res, eventMessage('messageStop', { stopReason: 'end_turn', p: pad() }));
            await writePiece(
                res,
                eventMessage('metadata', {
                    usage: { inputTokens: inTok, outputTokens: words(s.text), totalTokens: inTok + words(s.text) },
                    metrics: { latencyMs: 42 },
                    p: pad(),
                }),
            );
        }
        res.end();
    } catch {
        resetNow(req, res);
    }
}

// ================================================================================= Azure

function azureError(res, status, code, message, headers = {}) {
    sendJson(res, status, { error: { code, message, param: null, type: null } }, {
        'apim-request-id': rid(),
        ...headers,
    });
}

const AZURE_MODEL = 'gpt-4o-2024-08-06';
const FINGERPRINT = 'fp_e2esim0001';
const SAFE = {
    hate: { filtered: false, severity: 'safe' },
    self_harm: { filtered: false, severity: 'safe' },
    sexual: { filtered: false, severity: 'safe' },
    violence: { filtered: false, severity: 'safe' },
};

function chatPrompt(json) {
    return lastUser(json.messages);
}

function chatCompletion(model, s, inTok) {
    const outTok = words(s.text);
    return {
        id: 'chatcmpl-' + hex(12),
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        system_fingerprint: FINGERPRINT,
        prompt_filter_results: [{ prompt_index: 0, content_filter_results: SAFE }],
        choices: [
            {
                index: 0,
                finish_reason: 'stop',
                logprobs: null,
                message: { role: 'assistant', content: s.text, refusal: null },
                content_filter_results: SAFE,
            },
        ],
        usage: { prompt_tokens: inTok, completion_tokens: outTok, total_tokens: inTok + outTok },
    };
}

const sse = (obj, event) =>
    Buffer.from((event ? `event: ${event}\n` : '') + `data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`);

async function chatHandle(res, json, model, requestId, headers, flavour) {
    if (!Array.isArray(json.messages))
        return flavour === 'bedrock'
            ? bedrockError(res, 400, 'ValidationException', "'messages' is a required property")
            : azureError(res, 400, 'BadRequest', "'messages' is a required property");
    const prompt = chatPrompt(json);
    const s = script(prompt);
    const inTok = words(prompt);
    if (s.slow) await sleep(SLOW_MS);
    if (s.fail === 500)
        return flavour === 'bedrock'
            ? bedrockError(res, 500, 'InternalServerException', 'The simulator was told to fail (FAIL 500).')
            : azureError(res, 500, 'InternalServerError', 'The server had an error while processing your request. Sorry about that! (FAIL 500)', headers);
    if (s.fail === 429)
        return flavour === 'bedrock'
            ? bedrockError(res, 429, 'ThrottlingException', 'Too many requests, please wait before trying again.')
            : azureError(res, 429, '429', 'Rate limit is exceeded. Try again in 2 seconds.', {
                  ...headers,
                  'retry-after': '2',
                  'x-ratelimit-remaining-requests': '0',
              });

    if (!json.stream) {
        const buf = Buffer.from(JSON.stringify(chatCompletion(model, s, inTok)));
        res.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': buf.length });
        if (s.reset) {
            res.write(buf.subarray(0, buf.length >> 1));
            await sleep(STREAM_GAP_MS);
            return resetNow(res.req, res);
        }
        return res.end(buf);
    }
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const id = 'chatcmpl-' + hex(12);
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta, finish, extra = {}) => ({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        system_fingerprint: FINGERPRINT,
        choices: [{ index: 0, delta, finish_reason: finish, logprobs: null, content_filter_results: finish ? {} : SAFE }],
        ...extra,
    });
    try {
        if (flavour === 'azure')
            await writePiece(
                res,
                sse({
                    choices: [],
                    created: 0,
                    id: '',
                    model: '',
                    object: '',
                    prompt_filter_results: [{ prompt_index: 0, content_filter_results: SAFE }],
                }),
            );
        await writePiece(res, sse(chunk({ role: 'assistant', content: '', refusal: null }, null)));
        for (const d of s.deltas) {
            await writePiece(res, sse(chunk({ content: d }, null)));
            if (s.reset) return resetNow(res.req, res);
        }
        await writePiece(res, sse(chunk({}, 'stop')));
        if (json.stream_options?.include_usage)
            await writePiece(
                res,
                sse({
                    id,
                    object: 'chat.completion.chunk',
                    created,
                    model,
                    system_fingerprint: FINGERPRINT,
                    choices: [],
                    usage: { prompt_tokens: inTok, completion_tokens: words(s.text), total_tokens: inTok + words(s.text) },
                }),
            );
        await writePiece(res, sse('[DONE]'));
        res.end();
    } catch {
        resetNow(res.req, res);
    }
}

function responseObject(id, model, status, item, inTok, outTok) {
    return {
        id,
        object: 'response',
        created_at: Math.floor(Date.now() / 1000),
        status,
        error: null,
        incomplete_details: null,
        instructions: null,
        max_output_tokens: null,
        model,
        output: item ? [item] : [],
        parallel_tool_calls: true,
        previous_response_id: null,
        reasoning: { effort: null, summary: null },
        store: true,
        temperature: 1,
        text: { format: { type: 'text' } },
        tool_choice: 'auto',
        tools: [],
        top_p: 1,
        truncation: 'disabled',
        usage:
            status === 'completed'
                ? {
                      input_tokens: inTok,
                      input_tokens_details: { cached_tokens: 0 },
                      output_tokens: outTok,
                      output_tokens_details: { reasoning_tokens: 0 },
                      total_tokens: inTok + outTok,
                  }
                : null,
        user: null,
        metadata: {},
    };
}

async function responsesHandle(res, json, requestId, headers) {
    if (json.input === undefined) return azureError(res, 400, 'BadRequest', "Missing required parameter: 'input'.");
    const prompt = responsesPrompt(json);
    const s = script(prompt);
    const inTok = words(prompt);
    if (s.slow) await sleep(SLOW_MS);
    if (s.fail === 500)
        return azureError(res, 500, 'InternalServerError', 'The server had an error while processing your request. Sorry about that! (FAIL 500)', headers);
    if (s.fail === 429)
        return azureError(res, 429, '429', 'Rate limit is exceeded. Try again in 2 seconds.', { ...headers, 'retry-after': '2' });
    const model = AZURE_MODEL;
    const respId = 'resp_' + hex(16);
    const itemId = 'msg_' + hex(16);
    const part = (text) => ({ type: 'output_text', text, annotations: [], logprobs: [] });
    const item = (status, content) => ({ id: itemId, type: 'message', status, role: 'assistant', content });
    const outTok = words(s.text);

    if (!json.stream) {
        const buf = Buffer.from(
            JSON.stringify(responseObject(respId, model, 'completed', item('completed', [part(s.text)]), inTok, outTok)),
        );
        res.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': buf.length });
        if (s.reset) {
            res.write(buf.subarray(0, buf.length >> 1));
            await sleep(STREAM_GAP_MS);
            return resetNow(res.req, res);
        }
        return res.end(buf);
    }
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let seq = 0;
    const ev = (type, fields) => sse({ type, sequence_number: seq++, ...fields }, type);
    try {
        await writePiece(res, ev('response.created', { response: responseObject(respId, model, 'in_progress', null) }));
        await writePiece(res, ev('response.in_progress', { response: responseObject(respId, model, 'in_progress', null) }));
        await writePiece(res, ev('response.output_item.added', { output_index: 0, item: item('in_progress', []) }));
        await writePiece(
            res,
            ev('response.content_part.added', { item_id: itemId, output_index: 0, content_index: 0, part: part('') }),
        );
        for (const d of s.deltas) {
            await writePiece(
                res,
                ev('response.output_text.delta', { item_id: itemId, output_index: 0, content_index: 0, delta: d, logprobs: [] }),
            );
            if (s.reset) return resetNow(res.req, res);
        }
        await writePiece(
            res,
            ev('response.output_text.done', { item_id: itemId, output_index: 0, content_index: 0, text: s.text, logprobs: [] }),
        );
        await writePiece(
            res,
            ev('response.content_part.done', { item_id: itemId, output_index: 0, content_index: 0, part: part(s.text) }),
        );
        await writePiece(res, ev('response.output_item.done', { output_index: 0, item: item('completed', [part(s.text)]) }));
        await writePiece(
            res,
            ev('response.completed', {
                response: responseObject(respId, model, 'completed', item('completed', [part(s.text)]), inTok, outTok),
            }),
        );
        res.end();
    } catch {
        resetNow(res.req, res);
    }
}

async function azureHandle(side, key, req, res, target, url, body) {
    const rec = side.record(req, target, body);
    if (req.headers.authorization !== undefined) {
        rec.auth = 'rejected: an Authorization header reached the upstream';
        return azureError(
            res,
            401,
            '401',
            'An Authorization header reached the upstream: the caller\'s credentials must not be forwarded (simulator expects only api-key).',
        );
    }
    const got = req.headers['api-key'];
    if (typeof got !== 'string' || got.length !== key.length || !crypto.timingSafeEqual(Buffer.from(got), Buffer.from(key))) {
        rec.auth = got === undefined ? 'rejected: no api-key' : 'rejected: wrong api-key';
        return azureError(
            res,
            401,
            '401',
            'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
        );
    }
    rec.auth = 'valid';
    const requestId = rid();
    const headers = {
        'apim-request-id': requestId,
        'x-request-id': requestId,
        'x-ms-region': 'Sweden Central',
        'x-ratelimit-remaining-requests': '99',
        'x-ratelimit-remaining-tokens': '99000',
    };
    const apiVersion = url.searchParams.get('api-version');
    let route = null;
    let deployment = null;
    const dep = /^\/openai\/deployments\/([^/]+)\/chat\/completions$/.exec(url.pathname);
    if (req.method === 'POST' && dep) {
        route = 'chat';
        deployment = decodeURIComponent(dep[1]);
    } else if (req.method === 'POST' && url.pathname === '/openai/v1/chat/completions') route = 'chat-v1';
    else if (req.method === 'POST' && url.pathname === '/openai/v1/responses') route = 'responses-v1';
    else if (req.method === 'POST' && url.pathname === '/openai/responses') route = 'responses';
    if (!route) return azureError(res, 404, '404', 'Resource not found', headers);
    if ((route === 'chat' || route === 'responses') && !apiVersion)
        return azureError(
            res,
            400,
            'MissingApiVersionParameter',
            'The api-version query parameter (?api-version=) is required for all requests.',
            headers,
        );
    let json;
    try {
        json = JSON.parse(body.toString('utf8'));
    } catch {
        return azureError(res, 400, 'BadRequest', 'We could not parse the JSON body of your request.', headers);
    }
    if ((route === 'chat-v1' || route.startsWith('responses')) && typeof json.model !== 'string')
        return azureError(res, 400, 'BadRequest', "Missing required parameter: 'model'.", headers);
    rec.deployment = deployment ?? json.model;
    if (route.startsWith('chat')) return chatHandle(res, json, AZURE_MODEL, requestId, headers, 'azure');
    return responsesHandle(res, json, requestId, headers);
}

// ================================================================================= server

function makeServer(side, handle) {
    const server = http.createServer(async (req, res) => {
        const target = req.url || '/';
        let url;
        try {
            url = new URL(target, 'http://sim.invalid');
        } catch {
            return sendJson(res, 400, { message: 'bad request target' });
        }
        if (url.pathname.startsWith('/__sim/')) return control(side, req, res, url);
        let body;
        try {
            body = await readBody(req);
        } catch {
            return;
        }
        try {
            await handle(req, res, target, url, body);
        } catch (e) {
            if (!res.headersSent) sendJson(res, 500, { message: `simulator bug: ${e && e.stack}` });
            else resetNow(req, res);
        }
    });
    // The sidecar keeps upstream connections alive: outlive its idle timeout so a reused
    // connection is never closed under it by us.
    server.keepAliveTimeout = 120_000;
    server.headersTimeout = 125_000;
    server.requestTimeout = 0;
    return server;
}

function listen(server) {
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server.address().port));
    });
}

/**
 * Starts the simulator in this process. Returns {ports, sides, close()} where ports is
 * {bedrock, azure, bedrockPorts: {region: port}}.
 */
export async function startSimulator(opts = {}) {
    const creds = {
        accessKeyId: opts.accessKeyId ?? SIM_DEFAULTS.accessKeyId,
        secretAccessKey: opts.secretAccessKey ?? SIM_DEFAULTS.secretAccessKey,
        sessionToken: opts.sessionToken,
    };
    const azureKey = opts.azureKey ?? SIM_DEFAULTS.azureKey;
    const regions = opts.regions?.length ? opts.regions : SIM_DEFAULTS.regions;
    const servers = [];
    const sides = {};
    const bedrockPorts = {};
    for (const region of regions) {
        const side = new Side('bedrock', region);
        const srv = makeServer(side, (req, res, target, url, body) =>
            bedrockHandle(side, creds, req, res, target, url, body),
        );
        bedrockPorts[region] = await listen(srv);
        sides[`bedrock:${region}`] = side;
        servers.push(srv);
    }
    const az = new Side('azure', null);
    const azSrv = makeServer(az, (req, res, target, url, body) => azureHandle(az, azureKey, req, res, target, url, body));
    const azurePort = await listen(azSrv);
    sides.azure = az;
    servers.push(azSrv);
    return {
        ports: { bedrock: bedrockPorts[regions[0]], azure: azurePort, bedrockPorts },
        sides,
        close: () =>
            Promise.all(
                servers.map(
                    (s) =>
                        new Promise((r) => {
                            s.close(() => r());
                            s.closeAllConnections?.();
                        }),
                ),
            ),
    };
}

function parseArgs(argv) {
    const o = {
        accessKeyId: process.env.SIM_AWS_ACCESS_KEY_ID || undefined,
        secretAccessKey: process.env.SIM_AWS_SECRET_ACCESS_KEY || undefined,
        azureKey: process.env.SIM_AZURE_KEY || undefined,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = () => {
            if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
            return argv[++i];
        };
        if (a === '--regions') o.regions = v().split(',').map((s) => s.trim()).filter(Boolean);
        else if (a === '--access-key-id') o.accessKeyId = v();
        else if (a === '--secret-access-key') o.secretAccessKey = v();
        else if (a === '--azure-key') o.azureKey = v();
        else if (a === '--help' || a === '-h') {
            process.stdout.write(
                'usage: node sim.mjs [--regions R1,R2] [--access-key-id ID] [--secret-access-key KEY] [--azure-key KEY]\n',
            );
            process.exit(0);
        } else throw new Error(`unknown argument ${a}`);
    }
    return o;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`sim: ${e.message}\n`);
        process.exit(2);
    }
    const sim = await startSimulator(opts);
    process.stdout.write(JSON.stringify(sim.ports) + '\n');
    const stop = () => sim.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}
