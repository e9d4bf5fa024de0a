# Shared by the load-test scripts (sourced, not run): the venv's Python, a principal and key on
# a temporary database, servers started on port 0, botocore's signature as wrk arguments, and
# the median of a list.
#
# The sourcing script sets `tmp` (a temporary folder) and `db` (a SQLite URL in it), and
# declares `declare -A pid addr` and `pids=()` before calling load_serve.

# The venv's Python with botocore (scripts/test creates it), in `python`.
load_python() {
  python="${COUNTERSIGN_PYTHON:-$PWD/.venv/bin/python}"
  [[ -x "$python" ]] || { echo "run scripts/test once first (creates .venv with botocore)" >&2; exit 2; }
}

# Creates principal `load` and a key for it with server binary $1 on `db`; sets `id` and
# `secret`.
load_key() {
  local bin=$1 key
  "$bin" principal create load --database-url "$db" >/dev/null 2>&1
  key=$("$bin" key create --principal load --database-url "$db" 2>/dev/null)
  field() { echo "$key" | "$python" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
  id=$(field access_key_id) secret=$(field secret_access_key)
}

# Starts server binary $2 as NAME ($1) on port 0 over `db`, after any command prefix that
# follows (taskset, valgrind...); sets pid[NAME] and addr[NAME], adds the pid to `pids`.
load_serve() {
  local name=$1 bin=$2
  shift 2
  RUST_LOG=warn "$@" "$bin" serve --listen 127.0.0.1:0 --database-url "$db" 2>"$tmp/err.$name" &
  pid[$name]=$!
  pids+=("$!")
  for _ in $(seq 600); do grep -q '^listening on' "$tmp/err.$name" && break; sleep 0.1; done
  addr[$name]=$(sed -n 's/^listening on //p' "$tmp/err.$name" | head -1)
  [[ -n ${addr[$name]} ]] || { echo "server $name did not start:" >&2; cat "$tmp/err.$name" >&2; exit 1; }
}

# botocore's signature of GET /v1/whoami to ADDR ($1; its host:port is signed) with `id` and
# `secret`, as wrk -H arguments, one per line. Valid for the server's skew window.
load_sign() {
  "$python" - "$1" "$id" "$secret" <<'PY'
import sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
addr, ak, sk = sys.argv[1:4]
req = AWSRequest(method="GET", url=f"http://{addr}/v1/whoami")
SigV4Auth(Credentials(ak, sk), "countersign", "local").add_auth(req)
for k, v in req.prepare().headers.items():
    if k.lower() != "host":
        print("-H")
        print(f"{k}: {v}")
PY
}

# The median of a space-separated list of numbers.
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
