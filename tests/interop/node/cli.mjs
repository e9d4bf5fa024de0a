// The command line shared by the senders here (after botocore_send.py's):
//
//   METHOD URL --access-key ID --secret-key SECRET [--token T] [--region R] [--service S]
//              [--data BODY] [--header 'Name: value']... [--presign [SECONDS]] [--bare NAME]...

/** Parses `argv` (without node and the script); throws with the usage on a bad line. */
export function parseArgs(argv, script) {
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
      case '--region': a.region = next(); break;
      case '--service': a.service = next(); break;
      case '--data': a.body = next(); break;
      case '--bare': a.bare.push(next()); break;
      case '--header': {
        const h = next();
        const at = h.indexOf(':');
        if (at < 1) throw new Error(`--header wants 'Name: value', got ${h}`);
        a.headers[h.slice(0, at).trim().toLowerCase()] = h.slice(at + 1).trim();
        break;
      }
      case '--presign':
        a.presign = true;
        if (i + 1 < argv.length && /^\d+$/.test(argv[i + 1])) a.expires = Number(argv[++i]);
        break;
      default:
        if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
        positional.push(arg);
    }
  }
  if (positional.length !== 2 || !a.accessKeyId || !a.secretAccessKey) {
    throw new Error(`usage: ${script} METHOD URL --access-key ID --secret-key SECRET [options]`);
  }
  [a.method, a.url] = positional;
  return a;
}

/** Prints the response as the Rust tests read it: the status, then the body. */
export async function report(response) {
  console.log(response.status);
  console.log(await response.text());
}
