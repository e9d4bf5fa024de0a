"""Sign a request with one of the `requests` auth plugins for SigV4 and send it with requests.

Used by tests/e2e/clients.rs. Prints the response status on the first line, then the body.
Nothing here re-implements SigV4: the signature is the plugin's.

    requests_send.py METHOD URL --lib {requests-aws4auth|aws-requests-auth}
        --access-key ID --secret-key SECRET [options of sender_args.py]
"""
import sys
from urllib.parse import urlsplit

import requests

import sender_args


def auth_for(lib, a):
    if lib == "requests-aws4auth":
        from requests_aws4auth import AWS4Auth

        return AWS4Auth(a.access_key, a.secret_key, a.region, a.service, session_token=a.token)
    from aws_requests_auth.aws_auth import AWSRequestsAuth

    return AWSRequestsAuth(
        aws_access_key=a.access_key,
        aws_secret_access_key=a.secret_key,
        aws_token=a.token,
        aws_host=urlsplit(a.url).netloc,
        aws_region=a.region,
        aws_service=a.service,
    )


def main() -> int:
    p = sender_args.parser()
    p.add_argument("--lib", choices=["requests-aws4auth", "aws-requests-auth"], required=True)
    a = p.parse_args()
    resp = requests.request(
        a.method,
        a.url,
        data=a.data,
        headers=sender_args.headers(a),
        auth=auth_for(a.lib, a),
        timeout=30,
    )
    print(resp.status_code)
    sys.stdout.write(resp.text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
