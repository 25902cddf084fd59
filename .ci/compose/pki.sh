#!/usr/bin/env sh
# A throwaway local PKI for docker-compose.yml, in ./.tokenbroker-compose/
# (git-ignored): a server CA and the broker's certificate (also nginx's), a
# client CA and one client certificate (SPIFFE URI SAN), a Redis password.
# The containers run as other users, so the files are world-readable: never
# do this with real keys. Run from the repository root: sh .ci/compose/pki.sh
set -eu
out=${1:-.tokenbroker-compose}
mkdir -p "$out"
cd "$out"
if [ -f server.pem ]; then
  echo "$out already holds a PKI (delete it to start over)"
  exit 0
fi
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca-key.pem
openssl req -x509 -new -key ca-key.pem -subj "/CN=tokenbroker compose CA" -days 30 -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
key server-key.pem
openssl req -new -key server-key.pem -subj "/CN=broker" -out server.csr
printf 'subjectAltName=DNS:localhost,DNS:broker,DNS:nginx,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 -extfile server.ext -out server.pem 2>/dev/null
key client-ca-key.pem
openssl req -x509 -new -key client-ca-key.pem -subj "/CN=tokenbroker compose client CA" -days 30 -out client-ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
key client-key.pem
openssl req -new -key client-key.pem -subj "/CN=demo" -out client.csr
printf 'subjectAltName=URI:spiffe://tokenbroker.test/ns/demo/sa/api\nextendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n' >client.ext
openssl x509 -req -in client.csr -CA client-ca.pem -CAkey client-ca-key.pem -CAcreateserial -days 30 -extfile client.ext -out client.pem 2>/dev/null
openssl rand -hex 32 >redis-password
rm -f ./*.csr ./*.ext ./*.srl
chmod 0755 .
chmod 0644 ./*
echo "wrote $(pwd): ca.pem (trust it: curl --cacert), client.pem + client-key.pem (tls_client_auth)"
