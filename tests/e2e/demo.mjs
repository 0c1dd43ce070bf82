#!/usr/bin/env node
// demo.mjs - the README demo of `weir serve`: apps keep their official SDKs (AWS SDK for
// JavaScript v3, openai) and only point their endpoint at the sidecar. Shows a clean
// request, a redacted prompt (what the app sent vs what the model received), a redacted
// completion (streamed), a blocked request and a region denial.
//
//   node tests/e2e/demo.mjs --weir build/weir
//       starts the upstream simulator and `weir serve` (policy eu-residency) itself
//   node tests/e2e/demo.mjs --bedrock PORT --azure PORT [--sim-bedrock PORT --sim-azure PORT]
//       against a sidecar already running (env: WEIR_DEMO_BEDROCK, WEIR_DEMO_AZURE,
//       WEIR_DEMO_SIM_BEDROCK, WEIR_DEMO_SIM_AZURE); the --sim-* ports of the simulator behind
//       it show what the model received. The sidecar's policy must redact e-mail addresses,
//       block card numbers and deny `us.` inference profiles (policies/eu-residency.yaml).
//
// Exit status 0 when every step behaved as described, 1 otherwise.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as L from './lib.mjs';
import { script } from './sim.mjs';
import * as H from './harness.mjs';

function parseArgs(argv) {
    const env = process.env;
    const o = {
        weir: null,
        bedrock: env.WEIR_DEMO_BEDROCK,
        azure: env.WEIR_DEMO_AZURE,
        simBedrock: env.WEIR_DEMO_SIM_BEDROCK,
        simAzure: env.WEIR_DEMO_SIM_AZURE,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = () => {
            if (i + 1 >= argv.length) fail(`${a} needs a value`);
            return argv[++i];
        };
        if (a === '--weir') o.weir = path.resolve(v());
        else if (a === '--bedrock') o.bedrock = v();
        else if (a === '--azure') o.azure = v();
        else if (a === '--sim-bedrock') o.simBedrock = v();
        else if (a === '--sim-azure') o.simAzure = v();
        else if (a === '-h' || a === '--help') fail(null);
        else fail(`unknown argument ${a}`);
    }
    if (!o.weir && !(o.bedrock && o.azure)) fail('give --weir PATH, or --bedrock PORT and --azure PORT');
    for (const k of ['bedrock', 'azure', 'simBedrock', 'simAzure']) if (o[k] !== undefined) o[k] = Number(o[k]);
    return o;
}

function fail(msg) {
    if (msg) process.stderr.write(`demo.mjs: ${msg}\n`);
    process.stderr.write('usage: node tests/e2e/demo.mjs --weir PATH\n       node tests/e2e/demo.mjs --bedrock PORT --azure PORT [--sim-bedrock PORT --sim-azure PORT]\n');
    process.exit(2);
}

/**
 * Starts the simulator and one `weir serve` with the embedded default policy on its Bedrock
 * and Azure listeners, plus a second Bedrock listener whose own policy pins EU regions
 * (policies/eu-residency.yaml) for the region denial.
 */
async function selfStart(weir) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-demo-'));
    const keys = H.makeAuditKeys(tmp);
    const sim = await H.startSim(path.join(tmp, 'sim.log'), ['eu-central-1']);
    const [bedrock, azure, admin, bedrockEu] = await H.freePorts(4);
    const inst = {
        id: 'demo',
        adminPort: admin,
        auditDir: path.join(tmp, 'audit'),
        configFile: path.join(tmp, 'weir.yaml'),
        stdoutFile: path.join(tmp, 'weir.stdout'),
        stderrFile: path.join(tmp, 'weir.stderr'),
        upstreams: [
            { name: 'bedrock', kind: 'bedrock', port: bedrock, region: 'eu-central-1', endpoint: `http://127.0.0.1:${sim.ports.bedrock}`, principal: 'arn:aws:iam::111122223333:role/llm-app' },
            { name: 'azure', kind: 'azure', port: azure, region: 'swedencentral', endpoint: `http://127.0.0.1:${sim.ports.azure}`, deployment_type: 'datazone', api_key_env: 'AZURE_OPENAI_API_KEY', deployments: { 'gpt-4o': 'gpt-4o' } },
            { name: 'bedrock-eu-only', kind: 'bedrock', port: bedrockEu, region: 'eu-central-1', endpoint: `http://127.0.0.1:${sim.ports.bedrock}`, principal: 'arn:aws:iam::111122223333:role/llm-app', policyFile: path.join(H.policiesDir, 'eu-residency.yaml') },
        ],
    };
    fs.writeFileSync(inst.configFile, H.configYaml(inst, keys, 'warn'));
    H.startWeir(weir, inst);
    const problem = await H.waitReady(inst, 20_000);
    const stop = async () => {
        const p = await H.stopWeir(inst, 30_000);
        sim.child.kill('SIGTERM');
        if (p) process.stderr.write(`weir: ${p}\n${H.tail(inst.stderrFile)}\n`);
        else fs.rmSync(tmp, { recursive: true, force: true });
        return !p;
    };
    if (problem) {
        process.stderr.write(`weir serve did not start: ${problem}\n${H.tail(inst.stderrFile)}\n`);
        await stop();
        process.exit(1);
    }
    return { bedrock, azure, bedrockEu, simBedrock: sim.ports.bedrock, simAzure: sim.ports.azure, stop };
}

// -------------------------------------------------------------------------------- output

let unexpected = 0;
const out = (s = '') => process.stdout.write(s + '\n');
const row = (label, value) => out(`   ${label.padEnd(15)}${value}`);
const quote = (parts) => parts.map((p) => JSON.stringify(p)).join(' ');
function check(ok, what) {
    if (!ok) {
        unexpected++;
        row('UNEXPECTED', what);
    }
}

async function modelGot(simPort, pick) {
    if (!simPort) return '(pass --sim-bedrock/--sim-azure to see it)';
    const last = await L.simLast(simPort);
    try {
        return pick(JSON.parse(last.body));
    } catch {
        return last.body;
    }
}

async function step(title, fn) {
    out();
    out(title);
    try {
        await fn();
    } catch (e) {
        unexpected++;
        row('UNEXPECTED', `${e.name ?? 'Error'}: ${e.message}`);
    }
}

async function main() {
    const opt = parseArgs(process.argv.slice(2));
    const ports = opt.weir ? await selfStart(opt.weir) : opt;
    const br = L.bedrockClient({ port: ports.bedrock, region: 'eu-central-1' });
    const az = L.azureClient({ port: ports.azure });
    const converseText = (b) => b.messages.at(-1).content[0].text;

    out('weir serve: apps keep their official SDKs and point the endpoint at the sidecar');
    out(`Bedrock on 127.0.0.1:${ports.bedrock} (eu-central-1), Azure OpenAI on 127.0.0.1:${ports.azure} (swedencentral): default policy`);
    const brEu = L.bedrockClient({ port: ports.bedrockEu ?? ports.bedrock, region: 'eu-central-1' });
    if (ports.bedrockEu) out(`Bedrock on 127.0.0.1:${ports.bedrockEu} (eu-central-1): policies/eu-residency.yaml`);

    await step('1. Clean request - Bedrock Converse', async () => {
        const prompt = 'Summarise our Q3 numbers in one line.';
        const r = await L.converse(br, prompt);
        const got = await modelGot(ports.simBedrock, converseText);
        row('app sent', prompt);
        row('model got', got);
        row('app got', r.text);
        check(r.stopReason === 'end_turn' && (got === prompt || !ports.simBedrock), 'the request was changed');
    });

    await step('2. Redacted prompt - Bedrock Converse', async () => {
        const prompt = `ECHO please reply to ${L.EMAIL}`;
        const r = await L.converse(br, prompt);
        const got = await modelGot(ports.simBedrock, converseText);
        row('app sent', prompt);
        row('model got', got);
        row('app got', r.text);
        check(!String(got).includes(L.EMAIL) && !r.text.includes(L.EMAIL), 'the address reached the model');
    });

    await step('3. Redacted completion - Azure OpenAI chat, streamed', async () => {
        const r = await L.chatStream(az, 'LEAK EMAIL');
        row('model streamed', quote(script('LEAK EMAIL').deltas));
        row('app got', quote(r.deltas));
        row('', `= ${r.text}`);
        check(!r.text.includes(L.EMAIL) && r.text.includes('[EMAIL]'), 'the completion was not redacted');
    });

    await step('4. Blocked request - Azure OpenAI chat', async () => {
        const prompt = `my card is ${L.CARD}`;
        const before = ports.simAzure ? await L.simCount(ports.simAzure) : null;
        row('app sent', prompt);
        try {
            await L.chat(az, prompt);
            check(false, 'the request was not blocked');
        } catch (e) {
            row('app got', `${e.constructor.name} ${e.status} ${e.code}: ${e.error?.message ?? e.message}`);
            check(e.status === 400 && e.code === 'content_filter', 'not a 400 content_filter');
        }
        if (ports.simAzure) {
            const n = (await L.simCount(ports.simAzure)) - before;
            row('model got', n === 0 ? 'nothing (no upstream call)' : `${n} request(s)`);
            check(n === 0, 'the blocked prompt reached the model');
        }
    });

    await step(`5. Region denial - Bedrock Converse, model ${L.MODEL_US_PROFILE}`, async () => {
        const before = ports.simBedrock ? await L.simCount(ports.simBedrock) : null;
        try {
            await L.converse(brEu, 'hello', L.MODEL_US_PROFILE);
            check(false, 'the us. inference profile was allowed');
        } catch (e) {
            row('app got', `${e.name} (${e.$metadata?.httpStatusCode}): ${e.message}`);
            check(e.name === 'AccessDeniedException', 'not an AccessDeniedException');
        }
        if (ports.simBedrock) {
            const n = (await L.simCount(ports.simBedrock)) - before;
            row('model got', n === 0 ? 'nothing (no upstream call)' : `${n} request(s)`);
            check(n === 0, 'the call reached the model');
        }
    });

    out();
    if (ports.stop && !(await ports.stop())) unexpected++;
    if (unexpected) out(`${unexpected} step(s) did not behave as described`);
    process.exit(unexpected ? 1 : 0);
}

main();
