"""The command line shared by the Python senders here (botocore_send.py, requests_send.py)."""
import argparse


def parser() -> argparse.ArgumentParser:
    """METHOD URL --access-key ID --secret-key SECRET [--token T] [--data BODY]
    [--header 'Name: value']... [--region R] [--service S]"""
    p = argparse.ArgumentParser()
    p.add_argument("method")
    p.add_argument("url")
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--token")
    p.add_argument("--data", default=None)
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--region", default="local")
    p.add_argument("--service", default="countersign")
    return p


def headers(args: argparse.Namespace) -> dict:
    """The --header values as a dict."""
    out = {}
    for h in args.header:
        k, _, v = h.partition(":")
        out[k.strip()] = v.strip()
    return out
