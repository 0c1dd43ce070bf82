// (g) Data residency (eu-residency policy): a us-east-1 upstream, a `us.` inference profile on
// an EU upstream and an Azure global deployment are denied; eu-central-1 with a plain or an
// `eu.` model id is served.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const topo = L.topology();
const EU = L.upstream(topo, 'bedrock-eu');
const US = L.upstream(topo, 'bedrock-us');
const AG = L.upstream(topo, 'azure-global');
const eu = L.bedrockClient({ port: EU.port, region: 'eu-central-1' });
const us = L.bedrockClient({ port: US.port, region: 'us-east-1' });

test('eu-central-1 with a plain model id is allowed', async () => {
    const r = await L.via(topo, 'bedrock-eu', 'allow', 'g/eu-plain', () => L.converse(eu, "Translate 'good morning' into German."));
    assert.equal(r.text, 'Hello from the simulator.');
});

test('eu-central-1 with an eu. inference profile is allowed', async () => {
    const r = await L.via(topo, 'bedrock-eu', 'allow', 'g/eu-profile', () =>
        L.converse(eu, 'hello', 'eu.anthropic.claude-3-7-sonnet-20250219-v1:0'),
    );
    assert.equal(r.text, 'Hello from the simulator.');
    assert.equal((await L.simLast(EU.simPort)).path, '/model/eu.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse');
});

test('a us-east-1 upstream is denied: AccessDeniedException 403, no upstream call', async () => {
    const before = await L.simCount(US.simPort);
    const e = await L.viaRejects(topo, 'bedrock-us', 'block', 'g/us-region', () => L.converse(us, 'hello'));
    assert.equal(await L.simCount(US.simPort), before);
    assert.equal(e.name, 'AccessDeniedException', `got ${e.name}: ${e.message}`);
    assert.equal(e.$metadata.httpStatusCode, 403);
});

test('the us. inference profile is denied on an EU upstream', async () => {
    const before = await L.simCount(EU.simPort);
    const e = await L.viaRejects(topo, 'bedrock-eu', 'block', 'g/us-profile', () => L.converse(eu, 'hello', L.MODEL_US_PROFILE));
    assert.equal(await L.simCount(EU.simPort), before);
    assert.equal(e.name, 'AccessDeniedException');
    assert.equal(e.$metadata.httpStatusCode, 403);
});

test('the us. inference profile is denied on InvokeModel too', async () => {
    const e = await L.viaRejects(topo, 'bedrock-eu', 'block', 'g/us-profile-invoke', () => L.invoke(eu, 'hello', L.MODEL_US_PROFILE));
    assert.equal(e.name, 'AccessDeniedException');
});

test('an Azure global deployment is denied with 403', async () => {
    const az = L.azureClient({ port: AG.port });
    const before = await L.simCount(AG.simPort);
    const e = await L.viaRejects(topo, 'azure-global', 'block', 'g/azure-global', () => L.chat(az, 'hello'));
    assert.equal(await L.simCount(AG.simPort), before);
    assert.equal(e.status, 403, `got ${e.status}: ${e.message}`);
    assert.equal(e.constructor.name, 'PermissionDeniedError');
});
