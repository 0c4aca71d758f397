#!/usr/bin/env bash
# Install the system packages the tests need and start what must run: OpenSSH's sshd, Chromium,
# GnuPG, and PostgreSQL on 127.0.0.1:5432 (trust auth for local TCP) with a `test` database.
# Debian/Ubuntu, as root. Run by .ci/run and by `make test-deps`; tests/conftest.py finds each.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    # apt-get and pg_ctlcluster need root; a newcomer's `make test-deps` gets asked once.
    command -v sudo >/dev/null 2>&1 || { echo "deps: run this as root" >&2; exit 1; }
    exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v make >/dev/null 2>&1 || missing+=(make)
[ -x /usr/bin/chromium ] || missing+=(chromium)  # browser tests (tests/e2e)
command -v gpg >/dev/null 2>&1 || missing+=(gnupg)  # PGP decryption (ingest/pgp.py)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)  # the private PostgreSQL cluster
if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
mkdir -p /run/sshd

# PostgreSQL on 127.0.0.1:5432 with trust auth for local TCP, and a `test` database.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    version=$(ls /etc/postgresql | sort -n | tail -n 1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" \
    | grep -q 1 || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test"
