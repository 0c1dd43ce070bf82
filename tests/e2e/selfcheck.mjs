#!/usr/bin/env node
// selfcheck.mjs - checks the upstream simulator on its own, with the official SDKs pointed
// DIRECTLY at it (no sidecar): the SDK signs with the credentials the simulator checks, the
// Azure clients send the api-key it expects. Every pass-through case of the e2e suite must
// work here, and the simulator must refuse what the sidecar is supposed to fix (bad
// signatures, wrong region, a forwarded Authorization header).
//
//   node tests/e2e/selfcheck.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ConverseCommand, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import { SIM_DEFAULTS } from './sim.mjs';
import * as L from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
let sim;
let ports;
const simCreds = { accessKeyId: SIM_DEFAULTS.accessKeyId, secretAccessKey: SIM_DEFAULTS.secretAccessKey };
let br; // Bedrock client, eu-central-1, HTTP/1.1, correct credentials
let az; // AzureOpenAI with the simulator's key
let v1; // OpenAI on /openai/v1 with api-key and no Authorization

before(async () => {
    sim = spawn(process.execPath, [path.join(here, 'sim.mjs'), '--regions', 'eu-central-1,us-east-1'], {
        stdio: ['ignore', 'pipe', 'inherit'],
    });
    ports = await new Promise((resolve, reject) => {
        let buf = '';
        sim.stdout.on('data', (d) => {
            buf += d;
            const nl = buf.indexOf('\n');
            if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
        });
        sim.on('exit', (c) => reject(new Error(`sim exited with ${c}`)));
    });
    br = L.bedrockClient({ port: ports.bedrock, credentials: simCreds, http1: true });
    az = L.azureClient({ port: ports.azure, apiKey: SIM_DEFAULTS.azureKey });
    v1 = L.openaiV1({ port: ports.azure, azureKey: SIM_DEFAULTS.azureKey });
});

after(() => {
    sim?.kill('SIGTERM');
});

test('the simulator prints its ports as JSON', () => {
    assert.equal(typeof ports.bedrock, 'number');
    assert.equal(typeof ports.azure, 'number');
    assert.equal(ports.bedrockPorts['eu-central-1'], ports.bedrock);
    assert.equal(typeof ports.bedrockPorts['us-east-1'], 'number');
});

// ------------------------------------------------------------------------- Bedrock

test('InvokeModel: signed request verified, default reply, request recorded', async () => {
    const [r, n] = await L.countingUpstream(ports.bedrock, () => L.invoke(br, 'Say hello.'));
    assert.equal(n, 1);
    assert.equal(r.text, 'Hello from the simulator.');
    assert.equal(r.json.stop_reason, 'end_turn');
    const last = await L.simLast(ports.bedrock);
    assert.equal(last.auth, 'valid');
    assert.equal(last.method, 'POST');
    assert.equal(last.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke');
    assert.equal(JSON.parse(last.body).messages[0].content[0].text, 'Say hello.');
});

test('InvokeModelWithResponseStream: anthropic chunks in order, text split over deltas', async () => {
    const r = await L.invokeStream(br, 'Say hello.');
    assert.equal(r.text, 'Hello from the simulator.');
    assert.ok(r.deltas.length >= 3);
    assert.deepEqual(
        [...new Set(r.chunks.map((c) => c.type))],
        ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
    );
    assert.equal(r.stopReason, 'end_turn');
});

test('Converse and ConverseStream', async () => {
    const c = await L.converse(br, 'Say hello.');
    assert.equal(c.text, 'Hello from the simulator.');
    assert.equal(c.stopReason, 'end_turn');
    assert.ok(c.response.usage.inputTokens > 0);
    const s = await L.converseStream(br, 'Say hello.');
    assert.equal(s.text, 'Hello from the simulator.');
    assert.equal(s.stopReason, 'end_turn');
    const kinds = s.events.map((e) => Object.keys(e)[0]);
    assert.equal(kinds[0], 'messageStart');
    assert.deepEqual(kinds.slice(-3), ['contentBlockStop', 'messageStop', 'metadata']);
});

test('ECHO returns exactly the prompt the simulator received', async () => {
    const p = 'ECHO my email is jane.doe@example.com';
    assert.equal((await L.converse(br, p)).text, p);
    assert.equal((await L.converseStream(br, p)).text, p);
    assert.equal((await L.invoke(br, p)).text, p);
    assert.equal((await L.invokeStream(br, p)).text, p);
});

test('LEAK EMAIL / LEAK CARD are split so no single delta holds the value', async () => {
    const e = await L.converseStream(br, 'LEAK EMAIL');
    assert.ok(e.text.includes('contact jane.doe@example.com for details'));
    assert.ok(e.deltas.every((d) => !d.includes(L.EMAIL)));
    const i = await L.invokeStream(br, 'LEAK EMAIL');
    assert.ok(i.text.includes(L.EMAIL));
    const c = await L.converseStream(br, 'LEAK CARD');
    assert.match(c.text, L.CARD_DIGITS_RE);
    assert.ok(c.deltas.every((d) => !L.CARD_DIGITS_RE.test(d)));
});

test('InvokeModel dispatches on the model family (nova, titan, llama)', async () => {
    const send = async (modelId, body) => {
        const r = await br.send(new InvokeModelCommand({ modelId, contentType: 'application/json', body: JSON.stringify(body) }));
        return JSON.parse(new TextDecoder().decode(r.body));
    };
    const nova = await send('eu.amazon.nova-lite-v1:0', { messages: [{ role: 'user', content: [{ text: 'ECHO nova' }] }] });
    assert.equal(nova.output.message.content[0].text, 'ECHO nova');
    const titan = await send('amazon.titan-text-express-v1', { inputText: 'ECHO titan' });
    assert.equal(titan.results[0].outputText, 'ECHO titan');
    const llama = await send('meta.llama3-8b-instruct-v1:0', { prompt: 'ECHO llama' });
    assert.equal(llama.generation, 'ECHO llama');
});

test('FAIL 500 / FAIL 429 come back as the SDK errors Bedrock would give', async () => {
    const e500 = await L.rejects(() => L.converse(br, 'FAIL 500'));
    assert.equal(e500.name, 'InternalServerException');
    assert.equal(e500.$metadata.httpStatusCode, 500);
    const e429 = await L.rejects(() => L.invoke(br, 'FAIL 429'));
    assert.equal(e429.name, 'ThrottlingException');
    assert.equal(e429.$metadata.httpStatusCode, 429);
});

test('RESET drops the connection mid-stream: the SDK iteration throws', async () => {
    await L.rejects(() => L.converseStream(br, 'RESET please'));
    await L.rejects(() => L.invokeStream(br, 'RESET please'));
    await L.rejects(() => L.invoke(br, 'RESET please'));
});

test('SLOW waits about 3 s', async () => {
    const t0 = Date.now();
    await L.converse(br, 'SLOW hello');
    assert.ok(Date.now() - t0 >= 2900);
});

test('a wrong secret is refused with InvalidSignatureException (403)', async () => {
    const bad = L.bedrockClient({
        port: ports.bedrock,
        credentials: { accessKeyId: SIM_DEFAULTS.accessKeyId, secretAccessKey: 'not-the-secret' },
        http1: true,
    });
    const e = await L.rejects(() => bad.send(new ConverseCommand(L.converseInput(L.MODEL_CLAUDE, 'hi'))));
    assert.equal(e.$metadata.httpStatusCode, 403);
    assert.equal(e.name, 'InvalidSignatureException');
    assert.match(e.message, /signature we calculated does not match/);
    assert.match((await L.simLast(ports.bedrock)).auth, /^InvalidSignatureException/);
});

test('an unknown access key is refused with UnrecognizedClientException', async () => {
    const bad = L.bedrockClient({ port: ports.bedrock, credentials: L.CALLER_CREDENTIALS, http1: true });
    const e = await L.rejects(() => L.converse(bad, 'hi'));
    assert.equal(e.$metadata.httpStatusCode, 403);
    assert.equal(e.name, 'UnrecognizedClientException');
});

test('a signature scoped to another region is refused', async () => {
    // Signed for us-east-1, sent to the eu-central-1 port.
    const wrong = L.bedrockClient({ port: ports.bedrock, region: 'us-east-1', credentials: simCreds, http1: true });
    const e = await L.rejects(() => L.converse(wrong, 'hi'));
    assert.equal(e.$metadata.httpStatusCode, 403);
    assert.equal(e.name, 'InvalidSignatureException');
    assert.match(e.message, /scoped to a valid region/);
    // ... and the us-east-1 port accepts it.
    const us = L.bedrockClient({ port: ports.bedrockPorts['us-east-1'], region: 'us-east-1', credentials: simCreds, http1: true });
    assert.equal((await L.converse(us, 'hi')).text, 'Hello from the simulator.');
});

test('a body changed after signing is refused', async () => {
    const tampering = L.bedrockClient({ port: ports.bedrock, credentials: simCreds, http1: true });
    // Change the body after the SDK signed it.
    tampering.middlewareStack.addRelativeTo(
        (next) => async (args) => {
            const b = args.request.body;
            const text = typeof b === 'string' ? b : new TextDecoder().decode(b);
            args.request.body = text.replace('original', 'tampered'); // same length
            return next(args);
        },
        { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'tamperAfterSigning' },
    );
    const e = await L.rejects(() => L.converse(tampering, 'original text'));
    assert.equal(e.$metadata.httpStatusCode, 403);
    assert.equal(e.name, 'InvalidSignatureException');
    assert.match((await L.simLast(ports.bedrock)).body, /tampered/);
});

test('a body changed after signing, with a matching x-amz-content-sha256, is refused', async () => {
    const { createHash } = await import('node:crypto');
    const tampering = L.bedrockClient({ port: ports.bedrock, credentials: simCreds, http1: true });
    tampering.middlewareStack.addRelativeTo(
        (next) => async (args) => {
            const b = args.request.body;
            const text = (typeof b === 'string' ? b : new TextDecoder().decode(b)).replace('original', 'tampered');
            args.request.body = text;
            args.request.headers['x-amz-content-sha256'] = createHash('sha256').update(text).digest('hex');
            return next(args);
        },
        { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'tamperAfterSigning' },
    );
    const e = await L.rejects(() => L.converse(tampering, 'original text'));
    assert.equal(e.name, 'InvalidSignatureException');
    assert.match(e.message, /signature we calculated does not match/);
});

test('Bedrock runtime OpenAI-compatible route (SigV4 signed)', async () => {
    const { SignatureV4 } = await import('@smithy/signature-v4');
    const { HttpRequest } = await import('@smithy/protocol-http');
    const { Sha256 } = await import('@aws-crypto/sha256-js');
    const body = JSON.stringify({ model: 'openai.gpt-oss-20b-1:0', messages: [{ role: 'user', content: 'ECHO oss' }] });
    const req = new HttpRequest({
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: ports.bedrock,
        path: '/openai/v1/chat/completions',
        headers: { host: `127.0.0.1:${ports.bedrock}`, 'content-type': 'application/json' },
        body,
    });
    // No x-amz-content-sha256 header: the simulator hashes the body itself.
    const signer = new SignatureV4({ credentials: simCreds, region: 'eu-central-1', service: 'bedrock', sha256: Sha256, applyChecksum: false });
    const signed = await signer.sign(req);
    const r = await fetch(`http://127.0.0.1:${ports.bedrock}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: signed.headers,
        body,
    });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).choices[0].message.content, 'ECHO oss');
});

// --------------------------------------------------------------------------- Azure

test('Azure chat (deployments path), not streamed and streamed', async () => {
    const [c, n] = await L.countingUpstream(ports.azure, () => L.chat(az, 'Say hello.'));
    assert.equal(n, 1);
    assert.equal(c.text, 'Hello from the simulator.');
    assert.equal(c.finishReason, 'stop');
    const last = await L.simLast(ports.azure);
    assert.equal(last.auth, 'valid');
    assert.equal(last.path, '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21');
    assert.equal(last.headers['api-key'], SIM_DEFAULTS.azureKey);
    const s = await L.chatStream(az, 'Say hello.');
    assert.equal(s.text, 'Hello from the simulator.');
    assert.equal(s.finishReason, 'stop');
    assert.equal(s.chunks[0].choices.length, 0, 'Azure sends a prompt_filter_results frame with no choices first');
});

test('Azure chat on the v1 path', async () => {
    const c = await L.chat(v1, 'ECHO v1');
    assert.equal(c.text, 'ECHO v1');
    const last = await L.simLast(ports.azure);
    assert.equal(last.path, '/openai/v1/chat/completions');
    assert.equal(JSON.parse(last.body).model, 'gpt-4o');
    const s = await L.chatStream(v1, 'LEAK EMAIL');
    assert.ok(s.text.includes(L.EMAIL));
    assert.ok(s.deltas.every((d) => !d.includes(L.EMAIL)));
});

test('Responses API: v1 path and the api-version path, streamed and not', async () => {
    const r = await L.respond(v1, 'ECHO responses');
    assert.equal(r.text, 'ECHO responses');
    assert.equal(r.status, 'completed');
    assert.equal((await L.simLast(ports.azure)).path, '/openai/v1/responses');
    const s = await L.respondStream(v1, 'LEAK CARD');
    assert.match(s.text, L.CARD_DIGITS_RE);
    assert.equal(s.doneText, s.text);
    assert.deepEqual(
        [...new Set(s.types)],
        [
            'response.created',
            'response.in_progress',
            'response.output_item.added',
            'response.content_part.added',
            'response.output_text.delta',
            'response.output_text.done',
            'response.content_part.done',
            'response.output_item.done',
            'response.completed',
        ],
    );
    const a = await L.respond(az, 'Say hello.');
    assert.equal(a.text, 'Hello from the simulator.');
    assert.match((await L.simLast(ports.azure)).path, /^\/openai\/responses\?api-version=2024-10-21$/);
});

test('Azure FAIL 500 / FAIL 429 / RESET', async () => {
    const e500 = await L.rejects(() => L.chat(az, 'FAIL 500'));
    assert.equal(e500.status, 500);
    assert.equal(e500.constructor.name, 'InternalServerError');
    assert.equal(e500.code, 'InternalServerError');
    const e429 = await L.rejects(() => L.chat(az, 'FAIL 429'));
    assert.equal(e429.status, 429);
    assert.equal(e429.constructor.name, 'RateLimitError');
    await L.rejects(() => L.chatStream(az, 'RESET'));
    await L.rejects(() => L.respondStream(v1, 'RESET'));
});

test('Azure refuses a forwarded Authorization header and a wrong key (401)', async () => {
    const bearer = L.openaiV1({ port: ports.azure, apiKey: 'caller-key' });
    const e = await L.rejects(() => L.chat(bearer, 'hi'));
    assert.equal(e.status, 401);
    assert.match((await L.simLast(ports.azure)).auth, /Authorization header reached/);
    const wrong = L.azureClient({ port: ports.azure, apiKey: 'caller-key' });
    const e2 = await L.rejects(() => L.chat(wrong, 'hi'));
    assert.equal(e2.status, 401);
    assert.equal((await L.simLast(ports.azure)).auth, 'rejected: wrong api-key');
});

test('control endpoints: count only counts model calls', async () => {
    const a = await L.simCount(ports.azure);
    await L.simLast(ports.azure);
    await L.simGet(ports.azure, 'requests');
    assert.equal(await L.simCount(ports.azure), a);
});
