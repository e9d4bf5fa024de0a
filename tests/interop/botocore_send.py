"""Sign a request with botocore (SigV4Auth or SigV4QueryAuth) and send it as signed.

Used by tests/e2e/clients.rs. Prints the response status on the first line, then the body.
Nothing here re-implements SigV4: the signature is botocore's.
"""
import http.client
import sys
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import sender_args


def main() -> int:
    p = sender_args.parser()
    p.add_argument("--presign", type=int, default=0, help="presign for N seconds")
    a = p.parse_args()
    headers = sender_args.headers(a)
    data = a.data.encode() if a.data is not None else None
    req = AWSRequest(method=a.method, url=a.url, data=data, headers=headers)
    creds = Credentials(a.access_key, a.secret_key, a.token)
    if a.presign:
        SigV4QueryAuth(creds, a.service, a.region, expires=a.presign).add_auth(req)
    else:
        SigV4Auth(creds, a.service, a.region).add_auth(req)
    prepared = req.prepare()

    parts = urlsplit(prepared.url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(a.method, target, body=prepared.body, headers=dict(prepared.headers))
    resp = conn.getresponse()
    print(resp.status)
    sys.stdout.write(resp.read().decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
