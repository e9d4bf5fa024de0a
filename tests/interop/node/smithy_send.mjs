// Signs one request with @smithy/signature-v4 (the AWS SDK for JavaScript v3 signer, header or
// presigned form) and sends it as the SDK's HTTP handlers would: the query written by
// @smithy/querystring-builder. Prints the response status on the first line, then the body.
// Used by tests/e2e/clients.rs. Nothing here re-implements SigV4: the signature is smithy's.
//
//   node smithy_send.mjs METHOD URL --access-key ID --secret-key SECRET [--token T]
//                        [--data BODY] [--header 'Name: value']... [--presign SECONDS]
//                        [--bare NAME]...
//
// The URL's path is given decoded (the SDK's HttpRequest holds it so) and its query as
// name=value pairs; --bare adds a null-valued parameter, which the SDK sends as a bare name.
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { buildQueryString } from '@smithy/querystring-builder';

function parse(argv) {
  const a = { headers: {}, bare: [], region: 'local', service: 'countersign' };
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
      case '--presign': a.expiresIn = Number(next()); break;
      case '--bare': a.bare.push(next()); break;
      case '--header': {
        const h = next();
        const at = h.indexOf(':');
        if (at < 1) throw new Error(`--header wants 'Name: value', got ${h}`);
        a.headers[h.slice(0, at).trim().toLowerCase()] = h.slice(at + 1).trim();
        break;
      }
      default:
        if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
        positional.push(arg);
    }
  }
  if (positional.length !== 2 || !a.accessKeyId || !a.secretAccessKey) {
    throw new Error('usage: smithy_send.mjs METHOD URL --access-key ID --secret-key SECRET [options]');
  }
  [a.method, a.url] = positional;
  return a;
}

const a = parse(process.argv.slice(2));
const url = new URL(a.url);
const query = {};
for (const [name, value] of url.searchParams) {
  query[name] = name in query ? [].concat(query[name], value) : value;
}
for (const name of a.bare) query[name] = null;
const request = new HttpRequest({
  method: a.method,
  protocol: url.protocol,
  hostname: url.hostname,
  port: url.port ? Number(url.port) : undefined,
  path: decodeURIComponent(url.pathname),
  query,
  headers: { host: url.host, ...a.headers },
  body: a.body,
});
const signer = new SignatureV4({
  credentials: {
    accessKeyId: a.accessKeyId,
    secretAccessKey: a.secretAccessKey,
    sessionToken: a.sessionToken,
  },
  region: a.region,
  service: a.service,
  sha256: Sha256,
});
const signed = a.expiresIn
  ? await signer.presign(request, { expiresIn: a.expiresIn })
  : await signer.sign(request);
// As the SDK's handlers: each path segment escaped, the query from the builder.
const path = signed.path.split('/').map(encodeURIComponent).join('/');
const qs = buildQueryString(signed.query);
const headers = { ...signed.headers };
delete headers.host;
const response = await fetch(`${url.origin}${path}${qs ? `?${qs}` : ''}`, {
  method: a.method,
  headers,
  body: a.body,
});
console.log(response.status);
console.log(await response.text());
