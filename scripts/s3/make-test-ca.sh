#!/usr/bin/env bash
# Make a throw-away test CA and a server certificate for 127.0.0.1 / localhost.
#
# Usage: make-test-ca.sh OUT_DIR [CA_NAME]   (CA_NAME: the CA's CN, default "cnpg-backup test CA")
# Writes OUT_DIR/ca.pem (the CA to trust: the "endpoint CA"), OUT_DIR/ca.key,
# OUT_DIR/server.pem (leaf then CA: a full chain) and OUT_DIR/server.key.
# The leaf has SANs IP:127.0.0.1, IP:::1 and DNS:localhost, is valid 30 days,
# and is signed by the CA (not self-signed), so a client that trusts only
# ca.pem (object_store's with_root_certificate / AWS_CA_BUNDLE / boto3 verify=)
# accepts it, and a client with the default roots rejects it.
set -euo pipefail
out="${1:?usage: make-test-ca.sh OUT_DIR [CA_NAME]}"
ca_name="${2:-cnpg-backup test CA}"
mkdir -p "$out"
cd "$out"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
  -keyout ca.key -out ca.pem -subj "/CN=$ca_name" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 \
  -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
cat > server.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
EOF
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -days 30 -sha256 -extfile server.ext -out server.leaf.pem 2>/dev/null
cat server.leaf.pem ca.pem > server.pem
rm -f server.csr server.ext ca.srl
chmod 644 ca.pem server.pem server.leaf.pem
echo "CA: $out/ca.pem  cert: $out/server.pem  key: $out/server.key"
