// Signs one request with aws4fetch (header or presigned form) and sends it as signed.
//
// Used by tests/e2e/clients.rs. Prints the response status on the first line, then the body.
// Nothing here re-implements SigV4: the signature is aws4fetch's.
//
//   node aws4fetch_send.mjs METHOD URL --access-key ID --secret-key SECRET [options of cli.mjs]
//
// --presign signs the query instead of the headers; with SECONDS it sets X-Amz-Expires first
// (for services other than S3 aws4fetch sends none of its own).
import { webcrypto } from 'node:crypto';
import { AwsClient } from 'aws4fetch';
import { parseArgs, report } from './cli.mjs';

// Node 18 has WebCrypto, but not as a global.
globalThis.crypto ??= webcrypto;

const a = parseArgs(process.argv.slice(2), 'aws4fetch_send.mjs');
if (a.bare.length) throw new Error('--bare: aws4fetch takes a URL, which has no null values');
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
await report(response);
