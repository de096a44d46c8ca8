#!/bin/bash
# sshleased redeeming signed tokens, end to end: the real sshleased, the
# real sshlease (token keygen, token sign, grant), a real sshd and a real
# ssh login (DESIGN.md §3, token.h "How the daemon redeems a token"):
#  - a good token, made with `token sign --new-key`, is granted without
#    --user (the token names the account); the new private key logs in;
#    the signer is named in the reply, the state and the audit record;
#  - a dry run records nothing, not even the nonce: the same token is
#    granted afterwards; a second trusted signer's token names that signer;
#  - refused with exit 3, a specific reason, authorized_keys and
#    state.json unchanged to the byte and one "refuse" audit record (naming
#    the signer once the signature verified): a flipped bit in the
#    signature or in the payload, an unknown signer, expired, not valid yet
#    (issued beyond the 300 s skew; within it is fine), replayed (also
#    after a daemon restart), bound to another host, bound to another
#    account, naming no account, truncated, over-long, invalid base64,
#    another version (sl2. and a signed "v": 2);
#  - local policy wins: a token cannot widen max_duration, users,
#    key_types, min_rsa_bits, the configured from, or SFTP to shell; the
#    request may narrow the duration and the source list, not widen them
#    (nor the configured from, when the token has no source list);
#  - require_signed = yes refuses a raw key and says so; tokens still work.
#
# usage: test-daemon-token.sh SSHLEASED SSHLEASE TOKEN-TOOL PYTHON3
# Needs root, openssh-server, openssh-client (ssh, ssh-keygen), passwd,
# python3.
set -u
. "$(dirname "$0")/../lib/fixture.sh"
. "$(dirname "$0")/../lib/daemon.sh"

token_tool=${3:-}
python=${4:-}
fixture_require_root
fixture_require_cmd ssh ssh-keygen useradd usermod userdel cmp hostname
[ -x "$token_tool" ] && [ -x "$python" ] ||
	fixture_fail "usage: $0 SSHLEASED SSHLEASE TOKEN-TOOL PYTHON3"
fixture_init
daemon_init "${1:-}" "${2:-}"
work=$FIXTURE_DIR/work
mkdir -p "$work"

fixture_add_user slta
user=$FIXTURE_USER
user_home=$FIXTURE_HOME
fixture_add_user sltb
other=$FIXTURE_USER
other_home=$FIXTURE_HOME
fixture_add_user sltc
outsider=$FIXTURE_USER
ak=$user_home/.ssh/authorized_keys
other_ak=$other_home/.ssh/authorized_keys
state=$DAEMON_STATE/state.json
host=$(hostname)

# JSON and token surgery, and raw requests on the socket.
cat >"$work/tok.py" <<'PY'
import base64, json, socket, sys

def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def get(obj, path):
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj.get(part)
        if obj is None:
            return None
    return obj

cmd = sys.argv[1]
if cmd == "payload":        # TOKEN -> the payload JSON
    print(b64d(sys.argv[2].split(".")[1]).decode())
elif cmd == "flip-sig":     # TOKEN BIT -> the token, one signature bit flipped
    pre, payload, sig = sys.argv[2].split(".")
    raw = bytearray(b64d(sig))
    bit = int(sys.argv[3])
    raw[bit // 8] ^= 1 << (bit % 8)
    print(".".join([pre, payload, b64e(bytes(raw))]))
elif cmd == "flip-payload": # TOKEN TEXT BIT -> one bit of the payload byte after TEXT flipped
    pre, payload, sig = sys.argv[2].split(".")
    raw = bytearray(b64d(payload))
    at = raw.find(sys.argv[3].encode())
    assert at >= 0, "text not in payload"
    raw[at + len(sys.argv[3])] ^= 1 << int(sys.argv[4])
    print(".".join([pre, b64e(bytes(raw)), sig]))
elif cmd == "get":          # FILE PATH -> a value of a JSON file ("" for null)
    value = get(json.load(open(sys.argv[2])), sys.argv[3])
    print("" if value is None else (json.dumps(value) if isinstance(value, (dict, list, bool)) else value))
elif cmd == "has-nonce":    # STATE NONCE -> exit 0 when recorded
    nonces = json.load(open(sys.argv[2]))["nonces"]
    sys.exit(0 if any(n["value"] == sys.argv[3] for n in nonces) else 1)
elif cmd == "request":      # SOCKET JSON -> the reply
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(30)
    s.connect(sys.argv[2])
    s.send(sys.argv[3].encode())
    print(s.recv(65536).decode())
PY
tok() { "$python" "$work/tok.py" "$@"; }

# Three signer keys: two trusted, one not.
for signer in acme beta rogue; do
	sl token keygen --output "$work/$signer.key" >/dev/null 2>"$work/err" ||
		fixture_fail "token keygen $signer: $(head -c 300 "$work/err")"
done
fixture_keygen plain
fixture_keygen second
fixture_keygen third
fixture_keygen ecdsa ecdsa
ssh-keygen -q -t rsa -b 2048 -N '' -C rsa2048 -f "$FIXTURE_DIR/rsa2048" </dev/null >/dev/null ||
	fixture_fail "ssh-keygen rsa 2048 failed"

fixture_sshd_start
write_config() { # extra lines...
	daemon_config_write "[grant]" "users = $user, $other" "max_duration = 2d" \
		"key_types = ed25519, rsa" "min_rsa_bits = 3072" \
		"from = 127.0.0.0/8,10.0.0.0/8" \
		"[tokens]" "trusted_signer = $(cat "$work/acme.key.pub")" \
		"trusted_signer = $(cat "$work/beta.key.pub")" "$@" \
		"[sshd]" "port = $FIXTURE_SSHD_PORT" \
		"config = $FIXTURE_DIR/sshd/sshd_config"
}
write_config
daemon_start

# A token from `sshlease token sign` (signer first, then its options).
sign() { # out signer args...
	local out=$1 signer=$2
	shift 2
	sl token sign --signer "$work/$signer.key" "$@" >"$work/$out" 2>"$work/err" ||
		fixture_fail "token sign $out: $(head -c 400 "$work/err")"
}

# --- a good token, end to end ---
sign t1.tok acme --new-key "$work/t1" --ticket 4711 --for 1h --user "$user" --host "$host"
[ -s "$work/t1" ] && [ -s "$work/t1.pub" ] || fixture_fail "token sign --new-key wrote no key pair"
before=$(date +%s)
sl grant --yes --json "@$work/t1.tok" >"$work/t1.json" 2>"$work/err" ||
	fixture_fail "the good token was not granted: $(head -c 600 "$work/err")"
id=$(tok get "$work/t1.json" id)
[ "$(tok get "$work/t1.json" signer)" = acme ] || fixture_fail "the reply does not name signer acme: $(cat "$work/t1.json")"
[ "$(tok get "$work/t1.json" user)" = "$user" ] || fixture_fail "the grant is not for $user"
[ "$(tok get "$work/t1.json" ticket)" = 4711 ] || fixture_fail "the token's ticket is not the grant's"
[ "$(tok get "$work/t1.json" mode)" = shell ] || fixture_fail "the token's mode is not the grant's"
[ "$(tok get "$work/t1.json" from)" = "127.0.0.0/8,10.0.0.0/8" ] ||
	fixture_fail "the configured from does not apply to a token without one: $(tok get "$work/t1.json" from)"
expires=$(tok get "$work/t1.json" expires_unix)
[ "$expires" -gt "$before" ] && [ "$expires" -le "$((before + 3600 + 60))" ] ||
	fixture_fail "the deadline $expires is not the token's hour from $before"
read -r ktype kblob _ <"$work/t1.pub"
grep -qF "from=\"127.0.0.0/8,10.0.0.0/8\" $ktype $kblob sshlease:$id" "$ak" ||
	fixture_fail "no managed line for the token's key: $(cat "$ak")"
[ "$(fixture_ssh_login "$work/t1" "$user" echo logged-in)" = logged-in ] ||
	fixture_fail "the token's new key does not log in: $(cat "$FIXTURE_SSH_ERR")"
nonce=$(tok payload "$(cat "$work/t1.tok")" | sed -n 's/.*"nonce":"\([^"]*\)".*/\1/p')
[ -n "$nonce" ] || fixture_fail "no nonce in the token"
tok has-nonce "$state" "$nonce" || fixture_fail "the token's nonce is not in state.json"
grep -q "\"event\":\"grant\",\"id\":\"$id\".*\"signer\":\"acme\"" "$DAEMON_AUDIT" ||
	fixture_fail "the grant's audit record does not name signer acme: $(tail -n 2 "$DAEMON_AUDIT")"
grep -q "\"id\":\"$id\".*\"signer\":\"acme\"" "$state" ||
	fixture_fail "the grant in state.json does not name signer acme"
fixture_pass "a good token is granted, names its signer, and its new key logs in"

# --- a dry run records nothing; the second signer ---
sign t2.tok beta --key "@$FIXTURE_DIR/second.pub" --for 2h --user "$other"
cp "$state" "$work/state.before"
cp "$DAEMON_AUDIT" "$work/audit.before"
tok request "$DAEMON_SOCKET" "{\"op\":\"grant\",\"token\":\"$(cat "$work/t2.tok")\",\"dry_run\":true}" \
	>"$work/dry.json" || fixture_fail "the dry run request failed"
[ "$(tok get "$work/dry.json" ok)" = true ] && [ "$(tok get "$work/dry.json" dry_run)" = true ] ||
	fixture_fail "the dry run was not answered as one: $(cat "$work/dry.json")"
[ "$(tok get "$work/dry.json" grant.signer)" = beta ] || fixture_fail "the preview does not name signer beta"
[ -z "$(tok get "$work/dry.json" grant.id)" ] || fixture_fail "the preview has an id"
cmp -s "$work/state.before" "$state" || fixture_fail "a dry run changed state.json (nonce recorded?)"
cmp -s "$work/audit.before" "$DAEMON_AUDIT" || fixture_fail "a dry run wrote to the audit log"
[ ! -e "$other_ak" ] || ! grep -q sshlease: "$other_ak" || fixture_fail "a dry run wrote a line"
sl grant --yes --json "@$work/t2.tok" >"$work/t2.json" 2>"$work/err" ||
	fixture_fail "the token was not granted after its dry run: $(head -c 600 "$work/err")"
[ "$(tok get "$work/t2.json" signer)" = beta ] || fixture_fail "the grant does not name signer beta"
[ "$(tok get "$work/t2.json" user)" = "$other" ] || fixture_fail "the beta grant is not for $other"
fixture_pass "a dry run records no nonce; the second trusted signer's token is granted as beta"

# --- refusals ---
snapshot() {
	cp "$ak" "$work/ak.saved"
	cp "$other_ak" "$work/other_ak.saved"
	cp "$state" "$work/state.saved"
	cp "$DAEMON_AUDIT" "$work/audit.saved"
}

# Nothing changed; exactly one refuse record appended, naming signer (or
# no signer when it is "-").
expect_refused_record() { # what signer
	local size new
	cmp -s "$work/ak.saved" "$ak" || fixture_fail "$1: $user's authorized_keys changed"
	cmp -s "$work/other_ak.saved" "$other_ak" || fixture_fail "$1: $other's authorized_keys changed"
	cmp -s "$work/state.saved" "$state" || fixture_fail "$1: state.json changed"
	size=$(stat -c %s "$work/audit.saved")
	cmp -s -n "$size" "$work/audit.saved" "$DAEMON_AUDIT" ||
		fixture_fail "$1: the audit log's earlier lines changed"
	new=$work/audit.new
	tail -c +"$((size + 1))" "$DAEMON_AUDIT" >"$new"
	[ "$(wc -l <"$new")" -eq 1 ] && grep -q '"event":"refuse"' "$new" ||
		fixture_fail "$1: expected one refuse record, got: $(head -c 600 "$new")"
	if [ "$2" = - ]; then
		! grep -q '"signer"' "$new" || fixture_fail "$1: the refusal names a signer: $(cat "$new")"
	else
		grep -q "\"signer\":\"$2\"" "$new" ||
			fixture_fail "$1: the refusal does not name signer $2: $(cat "$new")"
	fi
}

# One refused grant through the CLI: exit 3, stderr matching reason.
bad_token() { # what signer reason-regex args...
	local what=$1 signer=$2 reason=$3 rc=0
	shift 3
	snapshot
	sl grant --yes "$@" >"$work/out" 2>"$work/err" || rc=$?
	[ "$rc" -eq 3 ] ||
		fixture_fail "$what: exit $rc, expected 3 (refused): $(head -c 400 "$work/err")"
	grep -Eq "$reason" "$work/err" ||
		fixture_fail "$what: stderr does not match /$reason/: $(head -c 400 "$work/err")"
	[ ! -s "$work/out" ] || fixture_fail "$what: printed a grant: $(head -c 200 "$work/out")"
	expect_refused_record "$what" "$signer"
	fixture_pass "refused: $what"
}

# The same with a raw request (what the CLI cannot send).
bad_request() { # what signer reason-regex json
	snapshot
	tok request "$DAEMON_SOCKET" "$4" >"$work/reply.json" || fixture_fail "$1: no reply"
	[ "$(tok get "$work/reply.json" error)" = refused ] ||
		fixture_fail "$1: not refused: $(head -c 400 "$work/reply.json")"
	grep -Eq "$3" "$work/reply.json" ||
		fixture_fail "$1: the reason does not match /$3/: $(head -c 400 "$work/reply.json")"
	expect_refused_record "$1" "$2"
	fixture_pass "refused: $1"
}

now=$(date +%s)
sign good.tok acme --key "@$FIXTURE_DIR/plain.pub" --for 1h --user "$user" --ticket T-9
good=$(cat "$work/good.tok")

bad_token "a flipped bit in the signature" - 'signature does not verify' \
	"$(tok flip-sig "$good" 77)"
bad_token "a flipped bit in the payload (dur 3600 -> 2600)" - 'signature does not verify' \
	"$(tok flip-payload "$good" '"dur":' 0)"
sign rogue.tok rogue --key "@$FIXTURE_DIR/plain.pub" --for 1h --user "$user"
bad_token "a signer not in trusted_signer" - 'does not verify against any trusted_signer' \
	"@$work/rogue.tok"
"$token_tool" sign "$work/acme.key" "@$FIXTURE_DIR/plain.pub" --user "$user" --dur 3600 \
	--iat $((now - 7200)) --exp $((now - 3600)) >"$work/expired.tok" || fixture_fail "token-tool: expired"
bad_token "expired an hour ago" acme 'token has expired' "@$work/expired.tok"
"$token_tool" sign "$work/acme.key" "@$FIXTURE_DIR/plain.pub" --user "$user" --dur 3600 \
	--iat $((now + 3600)) --exp $((now + 7200)) >"$work/future.tok" || fixture_fail "token-tool: future"
bad_token "issued an hour in the future" acme 'not valid yet' "@$work/future.tok"
sign otherhost.tok acme --key "@$FIXTURE_DIR/plain.pub" --for 1h --user "$user" \
	--host "not-$host.example"
bad_token "bound to another host" acme "only on the host not-$host.example" "@$work/otherhost.tok"
sign otheracct.tok acme --key "@$FIXTURE_DIR/plain.pub" --for 1h --user "$other"
bad_token "bound to another account" acme "for the account $other, not $user" \
	--user "$user" "@$work/otheracct.tok"
sign noacct.tok acme --key "@$FIXTURE_DIR/plain.pub" --for 1h
bad_token "naming no account, and none given" acme 'names no account.*--user' "@$work/noacct.tok"
bad_token "truncated (no signature part)" - 'truncated' "${good%.*}"
bad_token "truncated (ten characters short)" - 'token is truncated' "${good:0:$((${#good} - 10))}"
bad_token "over-long (5000 bytes)" - 'longer than 4096' \
	"$good$(head -c $((5000 - ${#good})) /dev/zero | tr '\0' A)"
bad_token "invalid base64 (a + in the payload)" - 'outside base64url' \
	"${good:0:20}+${good:21}"
bad_token "version 2 (sl2.)" - 'version 2 is not supported' "sl2.${good#sl1.}"
payload=$(tok payload "$good")
"$token_tool" raw "$work/acme.key" "${payload/\"v\":1/\"v\":2}" >"$work/v2.tok" ||
	fixture_fail "token-tool raw"
bad_token "a signed payload of version 2" - '"v\\" is not 1|"v" is not 1' "@$work/v2.tok"

# --- local policy wins ---
sign long.tok acme --key "@$FIXTURE_DIR/plain.pub" --for 3d --user "$user"
bad_token "longer than max_duration" acme 'asks for 3d.*max_duration \(2d\)' "@$work/long.tok"
sign outsider.tok acme --key "@$FIXTURE_DIR/plain.pub" --for 1h --user "$outsider"
bad_token "an account outside users" acme "$outsider is not in the configuration's users" \
	"@$work/outsider.tok"
sign ecdsa.tok acme --key "@$FIXTURE_DIR/ecdsa.pub" --for 1h --user "$user"
bad_token "a key type outside key_types" acme 'ecdsa keys are not allowed here \(key_types\)' \
	"@$work/ecdsa.tok"
sign rsa.tok acme --key "@$FIXTURE_DIR/rsa2048.pub" --for 1h --user "$user"
bad_token "RSA below min_rsa_bits" acme 'RSA key has 2048 bits.*3072' "@$work/rsa.tok"
sign wide.tok acme --key "@$FIXTURE_DIR/plain.pub" --for 1h --user "$user" --from 192.0.2.0/24
bad_token "a source list outside the configured from" acme \
	'192.0.2.0/24, which is not within this server' "@$work/wide.tok"
sign sftp.tok acme --key "@$FIXTURE_DIR/plain.pub" --for 1h --user "$user" --sftp-only
bad_request "an SFTP token asked for as a shell" acme 'SFTP only' \
	"{\"op\":\"grant\",\"token\":\"$(cat "$work/sftp.tok")\",\"mode\":\"shell\"}"
bad_token "--for longer than the token's" acme 'allows at most 1h' --for 2h "@$work/good.tok"
sign narrow.tok acme --key "@$FIXTURE_DIR/third.pub" --for 1h --user "$user" --from 10.0.0.0/8
bad_token "--from wider than the token's" acme 'not within the token' \
	--from 10.0.0.0/7 "@$work/narrow.tok"
bad_token "--ticket other than the token's" acme 'for ticket T-9' --ticket T-10 "@$work/good.tok"

# The request may narrow: a shorter time and a smaller source range.
before=$(date +%s)
sl grant --yes --json --for 30m --from 10.1.0.0/16 "@$work/narrow.tok" >"$work/narrow.json" \
	2>"$work/err" || fixture_fail "a narrowed token grant failed: $(head -c 400 "$work/err")"
[ "$(tok get "$work/narrow.json" from)" = 10.1.0.0/16 ] || fixture_fail "--from did not narrow the token's"
[ "$(tok get "$work/narrow.json" expires_unix)" -le "$((before + 1800 + 60))" ] ||
	fixture_fail "--for did not shorten the token's duration"
fixture_pass "the request narrows a token's duration and source list"

# Within the skew: issued two minutes in the future is fine.
"$token_tool" sign "$work/beta.key" "@$FIXTURE_DIR/third.pub" --user "$other" --dur 600 \
	--iat $((now + 120)) --exp $((now + 3600)) >"$work/skew.tok" || fixture_fail "token-tool: skew"
sl grant --yes "@$work/skew.tok" >/dev/null 2>"$work/err" ||
	fixture_fail "a token issued 2 minutes ahead (within the skew) was refused: $(head -c 400 "$work/err")"
fixture_pass "a token issued within the 300 s skew is granted"

# --- replay, also after a restart ---
sl revoke "$id" >/dev/null 2>"$work/err" || fixture_fail "revoke $id: $(head -c 300 "$work/err")"
bad_token "replayed after its grant was revoked" acme 'redeemed already' "@$work/t1.tok"
daemon_stop
daemon_start
bad_token "replayed after a daemon restart" acme 'redeemed already' "@$work/t1.tok"

# --- require_signed ---
daemon_stop
write_config "require_signed = yes"
daemon_start
snapshot
rc=0
sl grant --yes --user "$user" --for 1h "@$FIXTURE_DIR/plain.pub" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "require_signed: a raw key: exit $rc, expected 3"
grep -q 'only signed tokens (require_signed = yes)' "$work/err" ||
	fixture_fail "require_signed: the refusal does not say so: $(head -c 300 "$work/err")"
expect_refused_record "require_signed, a raw key" -
fixture_pass "require_signed = yes refuses a raw key and says so"
# A token without a source list: --from cannot reach beyond the configured
# from (the reviewer's case: everything, under require_signed).
bad_token "--from wider than the configured from, the token having none" acme \
	"from 0.0.0.0/0,::/0 is not within this server's from = 127.0.0.0/8,10.0.0.0/8" \
	--from 0.0.0.0/0,::/0 "@$work/good.tok"
sl grant --yes "@$work/good.tok" >/dev/null 2>"$work/err" ||
	fixture_fail "require_signed: a good token was refused: $(head -c 400 "$work/err")"
fixture_pass "require_signed = yes still grants a token"

sl audit --verify >/dev/null 2>"$work/err" || fixture_fail "the audit chain is broken: $(cat "$work/err")"
daemon_stop
fixture_pass "the audit chain is intact"
