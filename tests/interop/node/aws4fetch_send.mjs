// Signs one request with aws4fetch (header or presigned form) and sends it as signed.
//
// Used by tests/e2e/clients.rs. Prints the response status on the first line, then the body.
// Nothing here re-implements SigV4: the signature is aws4fetch's.
//
//   node send.mjs METHOD URL --access-key ID --secret-key SECRET [--token T]
//                 [--data BODY] [--header 'Name: value']... [--presign [SECONDS]]
//
// --presign signs the query instead of the headers; with SECONDS it sets X-Amz-Expires first
// (for services other than S3 aws4fetch sends none of its own).
import { webcrypto } from 'node:crypto';
import { AwsClient } from 'aws4fetch';

// Node 18 has WebCrypto, but not as a global.
globalThis.crypto ??= webcrypto;

function parse(argv) {
  const a = { headers: {}, region: 'local', service: 'countersign' };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--access-key': a.accessKeyId = next(); break;
      case '--secret-key': a.secretAccessKey = next(); break;
      case '--token': a.sessionToken = next(); break;
      case '--data': a.body = next(); break;
      case '--region': a.region = next(); break;
      case '--service': a.service = next(); break;
      case '--header': {
        const h = next();
        const at = h.indexOf(':');
        if (at < 1) throw new Error(`--header wants 'Name: value', got ${h}`);
        a.headers[h.slice(0, at).trim()] = h.slice(at + 1).trim();
        break;
      }
      case '--presign':
        a.presign = true;
        if (i + 1 < argv.length && /^\d+$/.test(argv[i + 1])) a.expires = argv[++i];
        break;
      default:
        if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
        positional.push(arg);
    }
  }
  if (positional.length !== 2 || !a.accessKeyId || !a.secretAccessKey) {
    throw new Error('usage: send.mjs METHOD URL --access-key ID --secret-key SECRET [options]');
  }
  [a.method, a.url] = positional;
  return a;
}

const a = parse(process.argv.slice(2));
const client = new AwsClient({
  accessKeyId: a.accessKeyId,
  secretAccessKey: a.secretAccessKey,
  sessionToken: a.sessionToken,
  service: a.service,
  region: a.region,
});
const init = { method: a.method, headers: a.headers, body: a.body };
let response;
if (a.presign) {
  const url = new URL(a.url);
  if (a.expires) url.searchParams.set('X-Amz-Expires', a.expires);
  const signed = await client.sign(url.toString(), { ...init, aws: { signQuery: true } });
  response = await fetch(signed.url, { method: a.method, headers: a.headers, body: a.body });
} else {
  response = await client.fetch(a.url, init);
}
console.log(response.status);
console.log(await response.text());
