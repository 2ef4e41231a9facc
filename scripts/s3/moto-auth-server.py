"""moto_server with signature and IAM checks that also hold for query values containing `/`.

moto 5.2.1 checks a SigV4 signature against the URL werkzeug gives it, whose query is already
decoded (`prefix=a/b`), while the client signed the encoded form (`prefix=a%2Fb`): every
ListObjectsV2 with a prefix is refused with SignatureDoesNotMatch. This re-encodes the query
the way SigV4 does before moto computes the signature, then runs moto's own server main.
Usage: python moto-auth-server.py [moto_server arguments...]
"""
import sys
from urllib.parse import quote, unquote, urlsplit

from moto.iam import access_control
from moto.server import main

_original = access_control.IAMRequestBase._create_aws_request


def _create_aws_request(self):
    parts = urlsplit(self._path)
    if parts.query:
        pairs = []
        for pair in parts.query.split("&"):
            key, sep, value = pair.partition("=")
            pairs.append(
                quote(unquote(key), safe="-_.~") + sep + quote(unquote(value), safe="-_.~")
            )
        self._path = parts.path + "?" + "&".join(pairs)
    return _original(self)


access_control.IAMRequestBase._create_aws_request = _create_aws_request

if __name__ == "__main__":
    sys.exit(main())
