// Signs one request with @smithy/signature-v4 (the AWS SDK for JavaScript v3 signer, header or
// presigned form) and sends it as the SDK's HTTP handlers would: the query written by
// @smithy/querystring-builder. Prints the response status on the first line, then the body.
// Used by tests/e2e/clients.rs. Nothing here re-implements SigV4: the signature is smithy's.
//
//   node smithy_send.mjs METHOD URL --access-key ID --secret-key SECRET [options of cli.mjs]
//
// The HttpRequest holds the URL's path decoded (as the SDK builds it) and its query as
// name=value pairs; --bare adds a null-valued parameter, which the SDK sends as a bare name.
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { buildQueryString } from '@smithy/querystring-builder';
import { parseArgs, report } from './cli.mjs';

const a = parseArgs(process.argv.slice(2), 'smithy_send.mjs');
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
const signed = a.presign
  ? await signer.presign(request, { expiresIn: a.expires ?? 900 })
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
await report(response);
