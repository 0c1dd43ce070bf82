// lib.mjs - helpers shared by the e2e tests, the self-check and the demo: official SDK
// clients, stream collectors, simulator control calls, and the call manifest the runner
// uses to check the audit trail.

import fs from 'node:fs';
import {
    BedrockRuntimeClient,
    InvokeModelCommand,
    InvokeModelWithResponseStreamCommand,
    ConverseCommand,
    ConverseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import OpenAI, { AzureOpenAI } from 'openai';

// Node 20 is what the project's machines have; the SDK's notice about Node 22 is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const MODEL_CLAUDE = 'anthropic.claude-3-haiku-20240307-v1:0';
export const MODEL_US_PROFILE = 'us.anthropic.claude-3-5-sonnet-20240620-v1:0';
export const AZURE_DEPLOYMENT = 'gpt-4o';
export const AZURE_API_VERSION = '2024-10-21';

/** Caller credentials an app would have; the sidecar ignores them and re-signs. */
export const CALLER_CREDENTIALS = Object.freeze({
    accessKeyId: 'AKIDCALLERNOTUSED000',
    secretAccessKey: 'caller-secret-the-sidecar-must-not-need',
});
export const CALLER_API_KEY = 'caller-key';

export const EMAIL = 'jane.doe@example.com';
export const CARD = '4111 1111 1111 1111';
/** Card digits in any spacing: the test asserts none of these reach a client. */
export const CARD_DIGITS_RE = /4111[\s-]*1111[\s-]*1111[\s-]*1111/;

// -------------------------------------------------------------------------------- clients

/**
 * BedrockRuntimeClient for an endpoint. `http1: true` uses NodeHttpHandler (HTTP/1.1, for
 * talking to the simulator directly); otherwise the SDK's default handler (HTTP/2, h2c on
 * http:// endpoints), as an app would.
 */
export function bedrockClient({ port, region = 'eu-central-1', credentials = CALLER_CREDENTIALS, http1 = false }) {
    return new BedrockRuntimeClient({
        region,
        endpoint: `http://127.0.0.1:${port}`,
        credentials: { ...credentials }, // the SDK annotates the object it is given
        maxAttempts: 1, // one call is one request: counts and audit records stay exact
        ...(http1 ? { requestHandler: new NodeHttpHandler({ requestTimeout: 60_000 }) } : {}),
    });
}

/** AzureOpenAI on the deployments path (api-version in the query). */
export function azureClient({ port, apiKey = CALLER_API_KEY, deployment = AZURE_DEPLOYMENT, apiVersion = AZURE_API_VERSION }) {
    return new AzureOpenAI({
        endpoint: `http://127.0.0.1:${port}`,
        apiKey,
        apiVersion,
        deployment,
        maxRetries: 0,
        timeout: 60_000,
    });
}

/**
 * OpenAI client on Azure's v1 path. The app authenticates with a bearer key; with
 * `azureKey` set the client instead sends `api-key` and no Authorization (direct to the
 * simulator, which refuses Authorization).
 */
export function openaiV1({ port, apiKey = CALLER_API_KEY, azureKey = null }) {
    return new OpenAI({
        baseURL: `http://127.0.0.1:${port}/openai/v1`,
        apiKey: azureKey ?? apiKey,
        maxRetries: 0,
        timeout: 60_000,
        ...(azureKey ? { defaultHeaders: { 'api-key': azureKey, authorization: null } } : {}),
    });
}

// --------------------------------------------------------------------------------- bodies

export function anthropicBody(text, extra = {}) {
    return JSON.stringify({
        anthropic_version: 'bedrock-2023-05-31',
        max_tokens: 256,
        messages: [{ role: 'user', content: [{ type: 'text', text }] }],
        ...extra,
    });
}

export const converseInput = (modelId, text) => ({
    modelId,
    messages: [{ role: 'user', content: [{ text }] }],
    inferenceConfig: { maxTokens: 256 },
});

// ---------------------------------------------------------------------------- operations

export async function invoke(client, text, modelId = MODEL_CLAUDE) {
    const r = await client.send(
        new InvokeModelCommand({ modelId, contentType: 'application/json', accept: 'application/json', body: anthropicBody(text) }),
    );
    const raw = new TextDecoder().decode(r.body);
    let json = null;
    try {
        json = JSON.parse(raw);
    } catch {
        /* returned as raw */
    }
    const textOut = json?.content?.filter((c) => c.type === 'text').map((c) => c.text).join('') ?? '';
    return { raw, json, text: textOut, requestId: r.$metadata.requestId, status: r.$metadata.httpStatusCode, response: r };
}

/** InvokeModelWithResponseStream (anthropic): the text, the decoded chunks, the deltas. */
export async function invokeStream(client, text, modelId = MODEL_CLAUDE) {
    const r = await client.send(
        new InvokeModelWithResponseStreamCommand({ modelId, contentType: 'application/json', accept: 'application/json', body: anthropicBody(text) }),
    );
    const chunks = [];
    const deltas = [];
    const events = [];
    await drain(r.body, { deltas, events, chunks, requestId: r.$metadata.requestId }, (ev) => {
        events.push(ev);
        if (ev.chunk?.bytes) {
            const obj = JSON.parse(new TextDecoder().decode(ev.chunk.bytes));
            chunks.push(obj);
            if (obj.type === 'content_block_delta' && obj.delta?.type === 'text_delta') deltas.push(obj.delta.text);
        }
    });
    const stop = chunks.find((c) => c.type === 'message_delta')?.delta?.stop_reason ?? null;
    return { text: deltas.join(''), deltas, chunks, events, stopReason: stop, requestId: r.$metadata.requestId };
}

export async function converse(client, text, modelId = MODEL_CLAUDE) {
    const r = await client.send(new ConverseCommand(converseInput(modelId, text)));
    const textOut = (r.output?.message?.content ?? []).map((c) => c.text ?? '').join('');
    return { text: textOut, stopReason: r.stopReason, response: r, requestId: r.$metadata.requestId };
}

export async function converseStream(client, text, modelId = MODEL_CLAUDE) {
    const r = await client.send(new ConverseStreamCommand(converseInput(modelId, text)));
    const deltas = [];
    const events = [];
    let stopReason = null;
    await drain(r.stream, { deltas, events, requestId: r.$metadata.requestId }, (ev) => {
        events.push(ev);
        if (ev.contentBlockDelta?.delta?.text !== undefined) deltas.push(ev.contentBlockDelta.delta.text);
        if (ev.messageStop) stopReason = ev.messageStop.stopReason;
    });
    return { text: deltas.join(''), deltas, events, stopReason, requestId: r.$metadata.requestId };
}

export async function chat(client, text, model = AZURE_DEPLOYMENT) {
    const { data, response } = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: text }] })
        .withResponse();
    return {
        text: data.choices[0]?.message?.content ?? '',
        finishReason: data.choices[0]?.finish_reason ?? null,
        data,
        requestId: response.headers.get('x-request-id') ?? response.headers.get('apim-request-id'),
    };
}

export async function chatStream(client, text, model = AZURE_DEPLOYMENT) {
    const { data: stream, response } = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: text }], stream: true })
        .withResponse();
    const deltas = [];
    const chunks = [];
    let finishReason = null;
    await drain(stream, { deltas, chunks, requestId: response.headers.get('x-request-id') ?? response.headers.get('apim-request-id') }, (ch) => {
        chunks.push(ch);
        const c = ch.choices?.[0];
        if (c?.delta?.content) deltas.push(c.delta.content);
        if (c?.finish_reason) finishReason = c.finish_reason;
    });
    return {
        text: deltas.join(''),
        deltas,
        chunks,
        finishReason,
        requestId: response.headers.get('x-request-id') ?? response.headers.get('apim-request-id'),
    };
}

export async function respond(client, text, model = AZURE_DEPLOYMENT) {
    const { data, response } = await client.responses.create({ model, input: text }).withResponse();
    return {
        text: data.output_text,
        status: data.status,
        data,
        requestId: response.headers.get('x-request-id') ?? response.headers.get('apim-request-id'),
    };
}

export async function respondStream(client, text, model = AZURE_DEPLOYMENT) {
    const { data: stream, response } = await client.responses
        .create({ model, input: text, stream: true })
        .withResponse();
    const deltas = [];
    const types = [];
    let final = null;
    let doneText = null;
    const events = [];
    await drain(stream, { deltas, events, types, requestId: response.headers.get('x-request-id') ?? response.headers.get('apim-request-id') }, (ev) => {
        events.push(ev);
        types.push(ev.type);
        if (ev.type === 'response.output_text.delta') deltas.push(ev.delta);
        if (ev.type === 'response.output_text.done') doneText = ev.text;
        if (ev.type === 'response.completed' || ev.type === 'response.incomplete' || ev.type === 'response.failed')
            final = ev.response;
    });
    return {
        text: deltas.join(''),
        deltas,
        events,
        types,
        doneText,
        final,
        requestId: response.headers.get('x-request-id') ?? response.headers.get('apim-request-id'),
    };
}

/**
 * Iterates a stream; if it fails, the error gets `partial` (what arrived before) so a
 * test can check what reached the client even then.
 */
async function drain(iterable, partial, each) {
    try {
        for await (const x of iterable) each(x);
    } catch (e) {
        if (e && typeof e === 'object') e.partial = partial;
        throw e;
    }
}

// ------------------------------------------------------------------------------ simulator

export async function simGet(port, what) {
    const r = await fetch(`http://127.0.0.1:${port}/__sim/${what}`);
    if (!r.ok) throw new Error(`simulator /__sim/${what}: HTTP ${r.status}`);
    return r.json();
}
export const simLast = (port) => simGet(port, 'last');
export const simCount = async (port) => (await simGet(port, 'count')).count;

/** Runs fn and returns [result, number of upstream requests the simulator saw meanwhile]. */
export async function countingUpstream(port, fn) {
    const before = await simCount(port);
    const out = await fn();
    return [out, (await simCount(port)) - before];
}

/** Awaits fn, which must throw; returns the error. */
export async function rejects(fn) {
    try {
        await fn();
    } catch (e) {
        return e;
    }
    throw new Error('expected the call to fail, it succeeded');
}

// ---------------------------------------------------------------------------------- env

/**
 * The topology the runner started, from E2E_TOPOLOGY (JSON):
 * {sim:{bedrock,azure,bedrockPorts}, upstreams:{name:{port,kind,region,policy,instance,principal}},
 *  instances:{id:{admin,auditDir,policy}}, calls: FILE}
 */
export function topology() {
    const raw = process.env.E2E_TOPOLOGY;
    if (!raw) throw new Error('E2E_TOPOLOGY is not set: run the suite with `node tests/e2e/run.mjs --weir PATH`');
    return JSON.parse(raw);
}

export function upstream(topo, name) {
    const u = topo.upstreams[name];
    if (!u) throw new Error(`no upstream '${name}' in the topology`);
    return u;
}

/**
 * Notes one call made through the sidecar for the audit check after the run:
 * {upstream, instance, action ("allow"|"redact"|"block"|"*"), requestId, label}.
 */
export function noteCall(topo, upstreamName, action, label, requestId = null) {
    const u = upstream(topo, upstreamName);
    if (!topo.calls) return;
    fs.appendFileSync(
        topo.calls,
        JSON.stringify({ upstream: upstreamName, instance: u.instance, action, label, requestId }) + '\n',
    );
}

/** The request id an SDK error carries (AWS $metadata, openai headers), or null. */
export function errorRequestId(e) {
    return (
        e?.partial?.requestId ??
        e?.$metadata?.requestId ??
        e?.headers?.get?.('x-request-id') ??
        e?.headers?.get?.('apim-request-id') ??
        e?.requestID ??
        null
    );
}

/**
 * Makes one call through the sidecar's upstream `name` and notes it for the audit check,
 * whether it succeeds or throws. `action` is the decision the audit record must show
 * ("allow", "redact", "block"; "*" for any).
 */
export async function via(topo, name, action, label, fn) {
    try {
        const r = await fn();
        noteCall(topo, name, action, label, r?.requestId ?? null);
        return r;
    } catch (e) {
        noteCall(topo, name, action, label, errorRequestId(e));
        throw e;
    }
}

/** Like via(), for a call that must fail: returns the error. */
export async function viaRejects(topo, name, action, label, fn) {
    return rejects(() => via(topo, name, action, label, fn));
}

/** Everything a stream delivered before it ended or failed, for leak checks. */
export function dump(x) {
    return JSON.stringify(x, (k, v) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : v));
}
