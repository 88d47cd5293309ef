#!/bin/sh
# certs.sh DIR -- test certificates, made non-interactively with certtool
# (gnutls-bin).  ECDSA P-256 keys (instant), 3650 days.  Writes into DIR:
#
#   ca.crt ca.key          "mtad test CA": signs server.crt
#   server.crt server.key  CN and DNS mx.example.net, IP 127.0.0.1 and ::1
#   other-ca.crt ...key    "mtad other CA": a CA that signed nothing here
#
# Used by tests/unit/test_tls.c; fine for any test that needs a TLS peer.
set -eu
dir=${1:?usage: certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

key() { certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 \
	--outfile "$1" 2>/dev/null; }

ca() {	# ca NAME CN
	cat > "$1.tmpl" <<TMPL
cn = "$2"
ca
cert_signing_key
crl_signing_key
expiration_days = 3650
TMPL
	key "$1.key"
	certtool --generate-self-signed --load-privkey "$1.key" \
	    --template "$1.tmpl" --outfile "$1.crt" 2>/dev/null
}

ca ca "mtad test CA"
ca other-ca "mtad other CA"

cat > server.tmpl <<TMPL
cn = "mx.example.net"
dns_name = "mx.example.net"
ip_address = "127.0.0.1"
ip_address = "::1"
tls_www_server
signing_key
encryption_key
expiration_days = 3650
TMPL
key server.key
certtool --generate-certificate --load-privkey server.key \
    --load-ca-certificate ca.crt --load-ca-privkey ca.key \
    --template server.tmpl --outfile server.crt 2>/dev/null
rm -f ./*.tmpl
